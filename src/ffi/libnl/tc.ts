// libnl-route-3: qdiscs and classes (filled in by the tc work).
export {};
