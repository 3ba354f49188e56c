// libnl-route-3: links, addresses, routes, rules, neighbours (filled in by the netlink work).
export {};
