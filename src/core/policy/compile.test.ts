/**
 * The compiler against the upstream NetworkPolicy semantics, as a table: each row is a set of
 * policies over the testkit cluster and concrete flows with the verdict (and the reason's words)
 * `explain` must give for them. Then the validation rows and the shape of the map entries.
 */
import { describe, expect, test } from "bun:test";
import { clipName, compile, isolationRuleId } from "./compile.ts";
import { explain } from "./explain.ts";
import {
	allow,
	type Case,
	cidr,
	compileCase,
	describeFlow,
	drop,
	IP,
	input,
	np,
	nsPeer,
	podPeer,
	pods,
	sel,
	tcp,
	udp,
} from "./testkit.ts";
import { EP, ID, ipKey, policyKey } from "./types.ts";

const ING = ["Ingress"] as ("Ingress" | "Egress")[];
const EGR = ["Egress"] as ("Ingress" | "Egress")[];
const denyIngress = np("deny-ingress", { podSelector: {}, policyTypes: ING });
const denyEgress = np("deny-egress", { podSelector: {}, policyTypes: EGR });

const cases: Case[] = [
	{
		name: "no policy: everything is allowed, nothing is isolated",
		policies: [],
		expect: [
			allow(
				IP.client,
				IP.db,
				"TCP",
				5432,
				"allowed: default/app=client is not selected by any policy for egress",
			),
			allow(
				IP.google,
				IP.web,
				"UDP",
				53,
				"allowed: default/app=web is not selected by any policy for ingress",
			),
		],
	},
	{
		name: "default deny ingress: {} selects every pod of the namespace, nothing is allowed in",
		policies: [denyIngress],
		expect: [
			drop(
				IP.web,
				IP.db,
				"TCP",
				5432,
				"dropped: default/deny-ingress isolates default/app=db for ingress and no rule allows pod default/app=web on TCP 5432",
			),
			drop(IP.google, IP.web, "TCP", 8080, "no rule allows world on TCP 8080"),
			drop(IP.prodClient, IP.nolabel, "TCP", 80, "isolates default/(no labels) for ingress"),
			// egress is not isolated by it
			allow(IP.db, IP.google, "UDP", 53, "not selected by any policy for egress"),
			// other namespaces are untouched
			allow(IP.client, IP.prodClient, "TCP", 80),
		],
		status: ["applied: selects 5 local pods, 0 entries"], // web, db, client, nolabel, web6; not the pending pod (no IPs)
	},
	{
		name: "default deny egress",
		policies: [denyEgress],
		expect: [
			drop(IP.web, IP.google, "UDP", 53, "default/deny-egress isolates default/app=web for egress"),
			drop(IP.client, IP.prodClient, "TCP", 80, "for egress"),
			allow(IP.prodClient, IP.web, "TCP", 8080),
		],
	},
	{
		name: "deny ingress by inference: no policyTypes, no rules = Ingress only",
		policies: [np("deny", { podSelector: {} })],
		expect: [
			drop(IP.client, IP.web, "TCP", 8080, "for ingress"),
			allow(IP.web, IP.google, "TCP", 443, undefined, "egress"),
		],
	},
	{
		name: "explicit empty ingress [] denies all ingress",
		policies: [np("deny", { podSelector: sel({ app: "db" }), ingress: [] })],
		expect: [drop(IP.client, IP.db, "TCP", 5432), allow(IP.client, IP.web, "TCP", 8080)],
	},
	{
		name: "allow all ingress: one empty rule",
		policies: [denyIngress, np("allow-all", { podSelector: {}, ingress: [{}] })],
		expect: [
			allow(IP.google, IP.web, "TCP", 8080, "allowed by default/allow-all ingress[0]"),
			allow(IP.x, IP.db, "SCTP", 9, "allowed by default/allow-all ingress[0]"),
			allow(IP.x, IP.db, "ICMP", 7, "allowed by default/allow-all ingress[0]"),
		],
	},
	{
		name: "allow all egress: one empty rule with policyTypes Egress",
		policies: [denyEgress, np("allow-out", { podSelector: {}, policyTypes: EGR, egress: [{}] })],
		expect: [allow(IP.web, IP.google, "UDP", 53, "allowed by default/allow-out egress[0]")],
	},
	{
		name: "policyTypes inferred: egress rules make it Ingress+Egress",
		policies: [np("web", { podSelector: sel({ app: "web" }), egress: [{ to: [podPeer({ app: "db" })] }] })],
		expect: [
			allow(IP.web, IP.db, "TCP", 5432, "allowed by default/web egress[0]", "egress"),
			drop(IP.web, IP.google, "TCP", 443, "default/web isolates default/app=web for egress"),
			drop(IP.client, IP.web, "TCP", 8080, "default/web isolates default/app=web for ingress"),
		],
	},
	{
		name: "policyTypes [Ingress] ignores egress rules",
		policies: [
			np("web", {
				podSelector: sel({ app: "web" }),
				policyTypes: ING,
				egress: [{ to: [podPeer({ app: "db" })] }],
			}),
		],
		expect: [allow(IP.web, IP.google, "TCP", 443, "not selected by any policy for egress")],
	},
	{
		name: "podSelector peer alone = pods of the policy's namespace",
		policies: [
			np("db", { podSelector: sel({ app: "db" }), ingress: [{ from: [podPeer({ app: "client" })] }] }),
		],
		expect: [
			allow(IP.client, IP.db, "TCP", 5432, "allowed by default/db ingress[0]"),
			allow(IP.client6, IP.db, "TCP", 5432),
			drop(IP.prodClient, IP.db, "TCP", 5432, "no rule allows pod prod/app=client"),
		],
	},
	{
		name: "namespaceSelector peer alone = every pod of the matching namespaces",
		policies: [np("db", { podSelector: sel({ app: "db" }), ingress: [{ from: [nsPeer({ env: "prod" })] }] })],
		expect: [
			allow(IP.prodClient, IP.db, "TCP", 5432),
			allow(IP.api, IP.db, "UDP", 1),
			drop(IP.client, IP.db, "TCP", 5432),
		],
	},
	{
		name: "namespaceSelector AND podSelector in one peer",
		policies: [
			np("db", {
				podSelector: sel({ app: "db" }),
				ingress: [
					{ from: [{ namespaceSelector: sel({ env: "prod" }), podSelector: sel({ app: "client" }) }] },
				],
			}),
		],
		expect: [
			allow(IP.prodClient, IP.db, "TCP", 5432),
			drop(IP.api, IP.db, "TCP", 5432, "no rule allows pod prod/app=api"),
			drop(IP.client, IP.db, "TCP", 5432, "no rule allows pod default/app=client"),
		],
	},
	{
		name: "namespaceSelector OR podSelector as two peers",
		policies: [
			np("db", {
				podSelector: sel({ app: "db" }),
				ingress: [{ from: [nsPeer({ env: "prod" }), podPeer({ app: "client" })] }],
			}),
		],
		expect: [
			allow(IP.prodClient, IP.db, "TCP", 5432),
			allow(IP.api, IP.db, "TCP", 5432),
			allow(IP.client, IP.db, "TCP", 5432),
			drop(IP.x, IP.db, "TCP", 5432),
			drop(IP.web, IP.db, "TCP", 5432),
		],
	},
	{
		name: "namespaceSelector {} = every pod in the cluster, but not outside addresses",
		policies: [
			np("db", { podSelector: sel({ app: "db" }), ingress: [{ from: [{ namespaceSelector: {} }] }] }),
		],
		expect: [
			allow(IP.x, IP.db, "TCP", 5432),
			allow(IP.dns, IP.db, "TCP", 5432),
			drop(IP.google, IP.db, "TCP", 5432),
		],
	},
	{
		name: "matchExpressions In",
		policies: [
			np("db", {
				podSelector: sel({ app: "db" }),
				ingress: [
					{
						from: [
							{
								podSelector: {
									matchExpressions: [{ key: "app", operator: "In", values: ["client", "web"] }],
								},
							},
						],
					},
				],
			}),
		],
		expect: [
			allow(IP.client, IP.db, "TCP", 1),
			allow(IP.web, IP.db, "TCP", 1),
			drop(IP.nolabel, IP.db, "TCP", 1),
		],
	},
	{
		name: "matchExpressions NotIn: a pod without the key matches",
		policies: [
			np("db", {
				podSelector: sel({ app: "db" }),
				ingress: [
					{
						from: [
							{ podSelector: { matchExpressions: [{ key: "app", operator: "NotIn", values: ["client"] }] } },
						],
					},
				],
			}),
		],
		expect: [
			allow(IP.web, IP.db, "TCP", 1),
			allow(IP.nolabel, IP.db, "TCP", 1),
			drop(IP.client, IP.db, "TCP", 1),
		],
	},
	{
		name: "matchExpressions Exists and DoesNotExist (on the policy's own podSelector too)",
		policies: [
			np("labelled", {
				podSelector: { matchExpressions: [{ key: "app", operator: "DoesNotExist" }] },
				ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: "app", operator: "Exists" }] } }] }],
			}),
		],
		expect: [
			allow(IP.web, IP.nolabel, "TCP", 1, "allowed by default/labelled ingress[0]"),
			drop(IP.google, IP.nolabel, "TCP", 1),
			// pods with an app label are not selected
			allow(IP.google, IP.web, "TCP", 8080, "not selected"),
		],
	},
	{
		name: "matchLabels and matchExpressions are ANDed",
		policies: [
			np("db", {
				podSelector: sel({ app: "db" }),
				ingress: [
					{
						from: [
							{
								namespaceSelector: {
									matchLabels: { env: "prod" },
									matchExpressions: [
										{ key: "kubernetes.io/metadata.name", operator: "In", values: ["prod"] },
									],
								},
								podSelector: { matchExpressions: [{ key: "app", operator: "NotIn", values: ["api"] }] },
							},
						],
					},
				],
			}),
		],
		expect: [allow(IP.prodClient, IP.db, "TCP", 1), drop(IP.api, IP.db, "TCP", 1)],
	},
	{
		name: "the automatic kubernetes.io/metadata.name namespace label",
		policies: [
			np("db", {
				podSelector: sel({ app: "db" }),
				ingress: [{ from: [nsPeer({ "kubernetes.io/metadata.name": "other" })] }],
			}),
		],
		expect: [allow(IP.x, IP.db, "TCP", 5432), drop(IP.prodClient, IP.db, "TCP", 5432)],
	},
	{
		name: "named port on ingress resolves on the selected pod's own container port",
		policies: [np("web", { podSelector: {}, ingress: [{ ports: [tcp("http")] }] })],
		expect: [
			allow(IP.client, IP.web, "TCP", 8080, "allowed by default/web ingress[0]"),
			drop(IP.client, IP.web, "TCP", 80),
			drop(IP.client, IP.web, "UDP", 8080),
			// db has no port named http: nothing is allowed into it
			drop(IP.client, IP.db, "TCP", 8080),
			drop(IP.client, IP.db, "TCP", 5432),
		],
	},
	{
		name: "named port on egress resolves on each peer pod's ports",
		policies: [
			np("client", {
				podSelector: sel({ app: "client" }),
				policyTypes: EGR,
				egress: [{ to: [{ namespaceSelector: {} }], ports: [tcp("http")] }],
			}),
		],
		expect: [
			allow(IP.client, IP.web, "TCP", 8080, "allowed by default/client egress[0]", "egress"),
			allow(IP.client, IP.api, "TCP", 9090, undefined, "egress"),
			drop(IP.client, IP.api, "TCP", 8080, "no rule allows pod prod/app=api on TCP 8080", "egress"),
			drop(IP.client, IP.db, "TCP", 5432, undefined, "egress"),
		],
	},
	{
		name: "named port on an any-peer egress rule expands per peer identity; not to addresses",
		policies: [
			np("client", {
				podSelector: sel({ app: "client" }),
				policyTypes: EGR,
				egress: [{ ports: [tcp("http")] }],
			}),
		],
		expect: [
			allow(IP.client, IP.remoteWeb, "TCP", 8080, undefined, "egress"),
			allow(IP.client, IP.api, "TCP", 9090, undefined, "egress"),
			drop(IP.client, IP.api, "TCP", 8080, undefined, "egress"),
			drop(IP.client, IP.google, "TCP", 8080, "no rule allows world on TCP 8080", "egress"),
		],
	},
	{
		name: "endPort: a port range",
		policies: [np("web", { podSelector: sel({ app: "web" }), ingress: [{ ports: [tcp(32000, 32768)] }] })],
		expect: [
			allow(IP.client, IP.web, "TCP", 32000),
			allow(IP.client, IP.web, "TCP", 32500),
			allow(IP.client, IP.web, "TCP", 32768),
			drop(IP.client, IP.web, "TCP", 31999),
			drop(IP.client, IP.web, "TCP", 32769),
			drop(IP.client, IP.web, "UDP", 32000),
		],
	},
	{
		name: "a port's protocol defaults to TCP",
		policies: [np("web", { podSelector: sel({ app: "web" }), ingress: [{ ports: [{ port: 53 }] }] })],
		expect: [allow(IP.client, IP.web, "TCP", 53), drop(IP.client, IP.web, "UDP", 53, "on UDP 53")],
	},
	{
		name: "a protocol without a port = every port of it; SCTP",
		policies: [
			np("web", {
				podSelector: sel({ app: "web" }),
				ingress: [{ ports: [udp(), { protocol: "SCTP", port: 9 }] }],
			}),
		],
		expect: [
			allow(IP.client, IP.web, "UDP", 1),
			allow(IP.client, IP.web, "UDP", 65535),
			allow(IP.client, IP.web, "SCTP", 9),
			drop(IP.client, IP.web, "SCTP", 10),
			drop(IP.client, IP.web, "TCP", 8080),
			drop(IP.client, IP.web, "ICMP", 1, "on ICMP"),
		],
	},
	{
		name: "ipBlock with except",
		policies: [
			np("web", {
				podSelector: sel({ app: "web" }),
				ingress: [{ from: [cidr("203.0.113.0/24", "203.0.113.128/25")] }],
			}),
		],
		expect: [
			allow(IP.ext, IP.web, "TCP", 8080, "allowed by default/web ingress[0]"),
			drop("203.0.113.200", IP.web, "TCP", 8080, "no rule allows cidr 203.0.113.128/25 on TCP 8080"),
			drop(IP.google, IP.web, "TCP", 8080, "no rule allows world"),
		],
	},
	{
		name: "ipBlock egress; 0.0.0.0/0 except the cluster range",
		policies: [
			np("out", {
				podSelector: sel({ app: "web" }),
				policyTypes: EGR,
				egress: [{ to: [cidr("0.0.0.0/0", "10.0.0.0/8", "192.168.0.0/16")], ports: [tcp(443)] }],
			}),
		],
		expect: [
			allow(IP.web, IP.google, "TCP", 443, "allowed by default/out egress[0]"),
			drop(IP.web, "10.99.0.1", "TCP", 443, "cidr 10.0.0.0/8"),
			drop(IP.web, IP.google, "TCP", 80),
		],
	},
	{
		name: "overlapping ipBlocks of different policies: the more specific identity is allowed by both",
		policies: [
			np("a", {
				podSelector: sel({ app: "web" }),
				ingress: [{ from: [cidr("198.51.0.0/16", "198.51.100.0/24")] }],
			}),
			np("b", {
				podSelector: sel({ app: "web" }),
				ingress: [{ from: [cidr("198.51.100.0/26")], ports: [udp()] }],
			}),
			np("c", {
				podSelector: sel({ app: "db" }),
				ingress: [{ from: [cidr("198.51.7.0/24")], ports: [tcp(1)] }],
			}),
		],
		expect: [
			// inside c's /24 identity, still allowed by a's /16
			allow("198.51.7.7", IP.web, "TCP", 8080, "allowed by default/a ingress[0]"),
			allow("198.51.9.9", IP.web, "TCP", 8080, "allowed by default/a ingress[0]"),
			// inside a's except: only b's UDP
			allow("198.51.100.5", IP.web, "UDP", 53, "allowed by default/b ingress[0]"),
			drop("198.51.100.5", IP.web, "TCP", 8080, "cidr 198.51.100.0/26"),
			drop("198.51.100.100", IP.web, "UDP", 53, "cidr 198.51.100.0/24"),
			allow("198.51.7.7", IP.db, "TCP", 1),
			drop("198.51.9.9", IP.db, "TCP", 1),
		],
	},
	{
		name: "ipBlock does not match pod IPs (pods have their own identities)",
		policies: [np("web", { podSelector: sel({ app: "web" }), ingress: [{ from: [cidr("10.0.0.0/8")] }] })],
		expect: [
			drop(IP.client, IP.web, "TCP", 8080, "no rule allows pod default/app=client"),
			allow("10.9.9.9", IP.web, "TCP", 8080),
		],
	},
	{
		name: "multiple policies are a union",
		policies: [
			np("a", {
				podSelector: sel({ app: "web" }),
				ingress: [{ from: [podPeer({ app: "client" })], ports: [tcp(8080)] }],
			}),
			np("b", {
				podSelector: sel({ app: "web" }),
				ingress: [{ from: [nsPeer({ env: "prod" })], ports: [tcp(8080)] }],
			}),
			np("c", {
				podSelector: sel({ app: "web" }),
				ingress: [{ from: [podPeer({ app: "client" })], ports: [udp()] }],
			}),
		],
		expect: [
			allow(IP.client, IP.web, "TCP", 8080, "allowed by default/a ingress[0]"),
			allow(IP.prodClient, IP.web, "TCP", 8080, "allowed by default/b ingress[0]"),
			allow(IP.client, IP.web, "UDP", 9999, "allowed by default/c ingress[0]"),
			drop(IP.prodClient, IP.web, "UDP", 9999, /default\/a, default\/b, default\/c isolate default\/app=web/),
		],
	},
	{
		name: "a rule's ports and peers combine as peers x ports; rules of one policy are a union",
		policies: [
			np("web", {
				podSelector: sel({ app: "web" }),
				ingress: [
					{ from: [podPeer({ app: "client" }), podPeer({ app: "db" })], ports: [tcp(80), tcp(443)] },
					{ from: [nsPeer({ team: "x" })] },
				],
			}),
		],
		expect: [
			allow(IP.db, IP.web, "TCP", 443, "default/web ingress[0]"),
			allow(IP.client, IP.web, "TCP", 80),
			drop(IP.client, IP.web, "TCP", 8080),
			allow(IP.x, IP.web, "UDP", 5, "default/web ingress[1]"),
		],
	},
	{
		name: "a policy in another namespace does not select this namespace's pods",
		policies: [np("deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }, "prod")],
		expect: [
			allow(IP.client, IP.db, "TCP", 5432),
			drop(IP.client, IP.prodClient, "TCP", 80, "prod/deny isolates prod/app=client for ingress"),
			drop(IP.prodClient, IP.client, "TCP", 80, "for egress"),
		],
	},
	{
		name: "egress DNS is not implied: deny egress blocks it",
		policies: [
			denyEgress,
			np("to-db", { podSelector: {}, policyTypes: EGR, egress: [{ to: [podPeer({ app: "db" })] }] }),
		],
		expect: [
			allow(IP.web, IP.db, "TCP", 5432, undefined, "egress"),
			drop(IP.web, IP.dns, "UDP", 53, "no rule allows pod kube-system/k8s-app=kube-dns on UDP 53"),
		],
	},
	{
		name: "egress DNS allowed explicitly: UDP and TCP 53 to kube-system",
		policies: [
			denyEgress,
			np("dns", {
				podSelector: {},
				policyTypes: EGR,
				egress: [
					{
						to: [{ namespaceSelector: sel({ "kubernetes.io/metadata.name": "kube-system" }) }],
						ports: [udp(53), tcp(53)],
					},
				],
			}),
		],
		expect: [
			allow(IP.web, IP.dns, "UDP", 53, "allowed by default/dns egress[0]"),
			allow(IP.web, IP.dns, "TCP", 53),
			drop(IP.web, IP.dns, "UDP", 5353),
			drop(IP.web, IP.google, "UDP", 53, "no rule allows world on UDP 53"),
		],
	},
	{
		name: "named ports to DNS: egress resolves on coredns's ports",
		policies: [
			np("dns", {
				podSelector: sel({ app: "web" }),
				policyTypes: EGR,
				egress: [
					{
						to: [{ namespaceSelector: {}, podSelector: sel({ "k8s-app": "kube-dns" }) }],
						ports: [udp("dns"), tcp("dns-tcp")],
					},
				],
			}),
		],
		expect: [
			allow(IP.web, IP.dns, "UDP", 53),
			allow(IP.web, IP.dns, "TCP", 53),
			drop(IP.web, IP.dns, "TCP", 54),
		],
	},
	{
		name: "the node's own addresses are always allowed (kubelet probes)",
		policies: [np("deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] })],
		expect: [
			allow(IP.node, IP.db, "TCP", 5432, "always allowed"),
			allow(IP.db, IP.node, "TCP", 10250, "always allowed"),
			drop(IP.client, IP.db, "TCP", 5432),
		],
	},
	{
		name: "pods without IPs: selected and peers, but no entries",
		policies: [np("db", { podSelector: sel({ app: "db" }), ingress: [{ from: [podPeer({ app: "db" })] }] })],
		expect: [drop(IP.client, IP.db, "TCP", 5432)],
		// db with an address and the pending db without one: only the former counts, and
		// db -> db is the only entry
		status: ["applied: selects 1 local pods, 1 entries"],
	},
	{
		name: "remote pods are not enforced here; local ones are",
		policies: [np("deny", { podSelector: {} }, "prod")],
		expect: [
			allow(
				IP.google,
				IP.api,
				"TCP",
				9090,
				"not enforced here: neither 8.8.8.8 (world) nor 10.0.2.10 (pod prod/app=api) is a pod on this node",
			),
			drop(IP.google, IP.prodClient, "TCP", 80),
			// the same identity on both nodes: the local pod's rules apply to it
			drop(IP.api, IP.prodClient, "TCP", 80),
		],
		status: ["applied: selects 1 local pods, 0 entries"],
	},
	{
		name: "remote pods of a local pod's identity: entries exist, only local IPs are LOCAL",
		policies: [
			np("web", { podSelector: sel({ app: "web" }), ingress: [{ from: [podPeer({ app: "client" })] }] }),
		],
		expect: [
			allow(IP.client, IP.web, "TCP", 8080),
			allow(IP.client, IP.remoteWeb, "TCP", 8080, "not selected by any policy for egress"),
			allow(IP.google, IP.remoteWeb, "TCP", 8080, "not enforced here"),
		],
	},
	{
		name: "IPv6: pod peers and ipBlocks",
		policies: [
			np("web6", {
				podSelector: sel({ app: "web6" }),
				ingress: [
					{
						from: [podPeer({ app: "client" }), cidr("2001:db8::/32", "2001:db8:1::/48")],
						ports: [tcp("http")],
					},
				],
			}),
		],
		expect: [
			allow(IP.client6, IP.web6, "TCP", 8080, "allowed by default/web6 ingress[0]"),
			allow("2001:db8:2::1", IP.web6, "TCP", 8080),
			drop("2001:db8:1::1", IP.web6, "TCP", 8080, "cidr 2001:db8:1::/48"),
			drop("2001:db9::1", IP.web6, "TCP", 8080, "world"),
			drop(IP.client6, IP.web6, "TCP", 80),
			drop(IP.client6, IP.web6, "ICMPv6", 1),
		],
	},
	{
		name: "ICMP echo: only an any-protocol rule allows it",
		policies: [
			np("web", {
				podSelector: sel({ app: "web" }),
				ingress: [{ from: [podPeer({ app: "client" })], ports: [tcp(8080)] }],
			}),
			np("db", { podSelector: sel({ app: "db" }), ingress: [{ from: [podPeer({ app: "client" })] }] }),
		],
		expect: [drop(IP.client, IP.web, "ICMP", 17, "on ICMP"), allow(IP.client, IP.db, "ICMP", 17)],
	},
	{
		name: "a flow checked at both ends on one node: src egress, then dst ingress",
		policies: [
			np("client-out", {
				podSelector: sel({ app: "client" }),
				policyTypes: EGR,
				egress: [{ to: [podPeer({ app: "db" })] }],
			}),
			np("db-in", { podSelector: sel({ app: "db" }), ingress: [{ from: [podPeer({ app: "web" })] }] }),
		],
		expect: [
			drop(IP.client, IP.db, "TCP", 5432, "default/db-in isolates default/app=db for ingress"),
			allow(IP.client, IP.db, "TCP", 5432, "allowed by default/client-out egress[0]", "egress"),
			drop(IP.client, IP.web, "TCP", 8080, "default/client-out isolates default/app=client for egress"),
			allow(
				IP.web,
				IP.db,
				"TCP",
				5432,
				/not selected by any policy for egress; allowed by default\/db-in ingress\[0\]/,
			),
		],
	},
	{
		name: "an invalid policy fails closed for its pods; valid ones still apply",
		policies: [
			np("bad", { podSelector: sel({ app: "web" }), ingress: [{ from: [cidr("10.0.0.0/33")] }] }),
			np("db", { podSelector: sel({ app: "db" }), ingress: [{ from: [podPeer({ app: "client" })] }] }),
		],
		expect: [
			drop(IP.client, IP.web, "TCP", 8080, "default/bad isolates default/app=web for ingress"),
			drop("10.0.0.1", IP.web, "TCP", 8080),
			allow(IP.client, IP.db, "TCP", 5432, "allowed by default/db ingress[0]"),
		],
		status: [
			'spec.ingress[0].from[0].ipBlock.cidr "10.0.0.0/33": prefix length must be 0..32 (fails closed: isolates 1 local pods for ingress, allows nothing)',
			"applied",
		],
	},
];

describe("NetworkPolicy semantics (explain on concrete flows)", () => {
	for (const c of cases) {
		test(c.name, () => {
			const out = compileCase(c);
			const got: string[] = [];
			const want: string[] = [];
			for (const e of c.expect) {
				const x = explain(out.state, e.flow);
				got.push(describeFlow(e, x));
				const okVerdict = x.verdict === e.verdict;
				const okReason =
					e.reason === undefined ||
					(typeof e.reason === "string" ? x.reason.includes(e.reason) : e.reason.test(x.reason));
				want.push(
					okVerdict && okReason
						? describeFlow(e, x)
						: `${describeFlow(e, x)} <- want ${e.verdict} ${e.reason ?? ""}`,
				);
			}
			expect(got).toEqual(want);
			(c.status ?? []).forEach((s, i) => {
				const m = out.status[i]?.message ?? "";
				if (typeof s === "string") expect(m).toContain(s);
				else expect(m).toMatch(s);
			});
		});
	}
	test("the table has at least 30 cases", () => {
		expect(cases.length).toBeGreaterThanOrEqual(30);
	});
});

describe("validation: the policy's status names the field and the value", () => {
	const rows: [string, Parameters<typeof np>[1], string][] = [
		[
			"bad CIDR",
			{ podSelector: {}, ingress: [{ from: [cidr("10.0.0.300/8")] }] },
			'spec.ingress[0].from[0].ipBlock.cidr "10.0.0.300/8"',
		],
		[
			"except not inside cidr",
			{ podSelector: {}, egress: [{ to: [cidr("10.0.0.0/8", "11.0.0.0/16")] }] },
			'spec.egress[0].to[0].ipBlock.except[0] "11.0.0.0/16": must be a strict subset of cidr 10.0.0.0/8',
		],
		[
			"except equal to cidr",
			{ podSelector: {}, egress: [{ to: [cidr("10.0.0.0/8", "10.0.0.0/8")] }] },
			'spec.egress[0].to[0].ipBlock.except[0] "10.0.0.0/8": must be a strict subset',
		],
		[
			"except of the other family",
			{ podSelector: {}, ingress: [{ from: [cidr("10.0.0.0/8", "fd00::/64")] }] },
			"except[0]",
		],
		[
			"port 0",
			{ podSelector: {}, ingress: [{ ports: [tcp(0)] }] },
			"spec.ingress[0].ports[0].port 0: must be 1..65535",
		],
		[
			"port 65536",
			{ podSelector: {}, ingress: [{ ports: [tcp(65536)] }] },
			"spec.ingress[0].ports[0].port 65536",
		],
		[
			"endPort < port",
			{ podSelector: {}, ingress: [{ ports: [tcp(100, 99)] }] },
			"spec.ingress[0].ports[0].endPort 99: must be >= port 100",
		],
		[
			"endPort > 65535",
			{ podSelector: {}, ingress: [{ ports: [tcp(100, 70000)] }] },
			"spec.ingress[0].ports[0].endPort 70000",
		],
		[
			"endPort with a named port",
			{ podSelector: {}, ingress: [{ ports: [tcp("http", 9000)] }] },
			"endPort 9000: cannot be used with the named port http",
		],
		[
			"endPort without a port",
			{ podSelector: {}, ingress: [{ ports: [{ endPort: 9000 }] }] },
			"endPort 9000: needs a port",
		],
		[
			"unknown protocol",
			{ podSelector: {}, ingress: [{ ports: [{ protocol: "ICMP" as "TCP", port: 1 }] }] },
			'spec.ingress[0].ports[0].protocol "ICMP": must be TCP, UDP or SCTP',
		],
		[
			"bad port name",
			{ podSelector: {}, ingress: [{ ports: [tcp("HTTP_1")] }] },
			'spec.ingress[0].ports[0].port "HTTP_1"',
		],
		[
			"In without values",
			{
				podSelector: {},
				ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: "a", operator: "In" }] } }] }],
			},
			"spec.ingress[0].from[0].podSelector.matchExpressions[0].values []: operator In needs at least one value",
		],
		[
			"unknown operator",
			{ podSelector: { matchExpressions: [{ key: "a", operator: "Gt" as "In", values: ["1"] }] } },
			'spec.podSelector.matchExpressions[0].operator "Gt"',
		],
		[
			"ipBlock with a selector",
			{ podSelector: {}, ingress: [{ from: [{ ...cidr("10.0.0.0/8"), ...podPeer({ a: "b" }) }] }] },
			"ipBlock cannot be combined",
		],
		[
			"empty peer",
			{ podSelector: {}, ingress: [{ from: [{}] }] },
			"spec.ingress[0].from[0] {}: must set podSelector, namespaceSelector or ipBlock",
		],
		[
			"unknown policyType",
			{ podSelector: {}, policyTypes: ["Sideways" as "Ingress"] },
			'spec.policyTypes "Sideways"',
		],
	];
	for (const [name, spec, message] of rows) {
		test(name, () => {
			const out = compile(
				input([np("bad", spec), np("ok", { podSelector: sel({ app: "db" }), ingress: [{}] })]),
			);
			expect(out.status[0]!.ok).toBe(false);
			expect(out.status[0]!.message).toContain(message);
			expect(out.status[1]).toEqual({
				policy: "default/ok",
				ok: true,
				message: expect.stringContaining("applied"),
			});
			// it contributes nothing: every entry comes from the valid policy
			const ok = out.rules.get("default/ok ingress[0]");
			for (const e of out.state.policy.values()) expect(e.rule).toBe(ok!);
		});
	}
	test("an invalid policyTypes isolates both directions", () => {
		const out = compile(
			input([np("bad", { podSelector: sel({ app: "web" }), policyTypes: ["Sideways" as "Ingress"] })]),
		);
		expect(out.state.ips.get(`${IP.web}/32`)!.flags).toBe(EP.LOCAL | EP.ISO_INGRESS | EP.ISO_EGRESS);
		expect(out.status[0]!.message).toContain("isolates 1 local pods for ingress and egress");
	});
	test("an invalid podSelector selects nothing", () => {
		const out = compile(
			input([
				np("bad", { podSelector: { matchExpressions: [{ key: "app", operator: "Exists", values: ["x"] }] } }),
			]),
		);
		expect(out.status[0]!.message).toContain("operator Exists takes no values");
		expect(out.status[0]!.message).toContain("isolates 0 local pods");
		for (const e of out.state.ips.values()) expect(e.flags & (EP.ISO_INGRESS | EP.ISO_EGRESS)).toBe(0);
	});
});

describe("map entries", () => {
	const out = compile(
		input([
			np("web", {
				podSelector: sel({ app: "web" }),
				ingress: [
					{
						from: [podPeer({ app: "client" }), cidr("203.0.113.0/24", "203.0.113.128/25")],
						ports: [tcp(8080)],
					},
				],
			}),
			np("deny-out", { podSelector: {}, policyTypes: EGR }, "prod"),
		]),
	);
	const ip = (a: string) => out.state.ips.get(a.includes(":") ? `${a}/128` : `${a}/32`)!;
	test("identities: pods from FIRST_POD, CIDRs from FIRST_CIDR, the node is HOST", () => {
		expect(ip(IP.node)).toEqual({ cidr: "192.168.0.1/32", identity: ID.HOST, flags: 0 });
		expect(ip(IP.web).identity).toBeGreaterThanOrEqual(ID.FIRST_POD);
		expect(ip(IP.web).identity).toBeLessThan(ID.FIRST_CIDR);
		expect(out.state.ips.get("203.0.113.0/24")!.identity).toBeGreaterThanOrEqual(ID.FIRST_CIDR);
		expect(out.state.ips.get("203.0.113.128/25")!.identity).toBeGreaterThanOrEqual(ID.FIRST_CIDR);
		expect(out.state.idNames.get(out.state.ips.get("203.0.113.0/24")!.identity)).toBe("cidr 203.0.113.0/24");
	});
	test("pods sharing namespace, labels and ports share an identity; v4 and v6 of one pod too", () => {
		expect(ip(IP.remoteWeb).identity).toBe(ip(IP.web).identity);
		expect(ip(IP.client6).identity).toBe(ip(IP.client).identity);
		expect(ip(IP.prodClient).identity).not.toBe(ip(IP.client).identity);
		expect(out.state.idNames.get(ip(IP.web).identity)).toBe("pod default/app=web");
		expect(out.state.idNames.get(ip(IP.nolabel).identity)).toBe("pod default/(no labels)");
	});
	test("different container ports make different identities", () => {
		const more = compile(
			input([], {
				pods: [
					...pods,
					{
						namespace: "default",
						name: "web-2",
						labels: { app: "web" },
						ips: ["10.0.0.11"],
						local: true,
						ports: [],
					},
				],
			}),
		);
		expect(more.state.ips.get("10.0.0.11/32")!.identity).not.toBe(
			more.state.ips.get(`${IP.web}/32`)!.identity,
		);
	});
	test("flags: LOCAL for local pods, ISO_* per direction, nothing for remote pods", () => {
		expect(ip(IP.web).flags).toBe(EP.LOCAL | EP.ISO_INGRESS);
		expect(ip(IP.client).flags).toBe(EP.LOCAL);
		expect(ip(IP.prodClient).flags).toBe(EP.LOCAL | EP.ISO_EGRESS);
		expect(ip(IP.remoteWeb).flags).toBe(0);
		expect(ip(IP.api).flags).toBe(0);
	});
	test("entries in LPM form, only for local endpoints; isolation records name the policies", () => {
		const web = ip(IP.web).identity;
		const rule = out.rules.get("default/web ingress[0]")!;
		const entries = [...out.state.policy.values()];
		expect(entries.every((e) => e.endpoint === web)).toBe(true);
		expect(entries).toContainEqual({
			endpoint: web,
			peer: ip(IP.client).identity,
			direction: "ingress",
			proto: 6,
			port: 8080,
			bits: 16,
			rule,
		});
		// the /24 but not its except
		expect(entries.map((e) => e.peer).sort()).toEqual(
			[ip(IP.client).identity, out.state.ips.get("203.0.113.0/24")!.identity].sort(),
		);
		expect(out.state.ruleNames.get(rule)).toBe("default/web ingress[0]");
		expect(out.state.ruleNames.get(isolationRuleId(web, "ingress"))).toBe("isolation ingress: default/web");
		expect(out.state.ruleNames.get(isolationRuleId(ip(IP.prodClient).identity, "egress"))).toBe(
			"isolation egress: prod/deny-out",
		);
	});
	test("every entry is stored under its policyKey, every address under its ipKey", () => {
		for (const [k, e] of out.state.policy) expect(k).toBe(policyKey(e));
		for (const [k, e] of out.state.ips) expect(k).toBe(ipKey(e));
	});
	test("hostNetwork pods are neither endpoints nor peers", () => {
		const r = compile(
			input([np("all", { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] })], {
				pods: [
					...pods,
					{
						namespace: "default",
						name: "agent",
						labels: {},
						ips: ["192.168.0.2"],
						local: false,
						ports: [],
						hostNetwork: true,
					},
				],
			}),
		);
		expect(r.state.ips.has("192.168.0.2/32")).toBe(false);
		expect(r.warnings).toBeUndefined();
		expect(explain(r.state, { src: "192.168.0.2", dst: IP.web, proto: "TCP", port: 8080 }).reason).toContain(
			"no rule allows world",
		);
	});
	test("names fit the maps (119 bytes): long label sets and policy names are clipped, rule names keep their rule", () => {
		const labels = {
			"app.kubernetes.io/name": "a-rather-long-application-name",
			"app.kubernetes.io/instance": "production-eu-central-1",
			"helm.sh/chart": "application-1.2.3",
			"pod-template-hash": "5d8f7c9b6",
		};
		const long = "p".repeat(200);
		const r = compile(
			input(
				[np(long, { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: labels } }] }] })],
				{
					pods: [
						...pods,
						{ namespace: "default", name: "helm", labels, ips: ["10.0.0.99"], local: true, ports: [] },
					],
				},
			),
		);
		const utf8 = (s: string) => new TextEncoder().encode(s).length;
		for (const n of [...r.state.idNames.values(), ...r.state.ruleNames.values()])
			expect(utf8(n)).toBeLessThanOrEqual(119);
		const id = r.state.ips.get("10.0.0.99/32")!.identity;
		expect(r.state.idNames.get(id)).toStartWith(
			"pod default/app.kubernetes.io/instance=production-eu-central-1,",
		);
		expect(r.state.idNames.get(id)).toEndWith("...");
		const rule = r.rules.get(`default/${long} ingress[0]`)!;
		expect(r.state.ruleNames.get(rule)).toMatch(/^default\/p+\.\.\. ingress\[0\]$/);
		expect(clipName("é".repeat(100))).toBe(`${"é".repeat(58)}...`);
	});
	test("a port range is written as its LPM prefixes", () => {
		const r = compile(
			input([np("w", { podSelector: sel({ app: "web" }), ingress: [{ ports: [tcp(1000, 1031)] }] })]),
		);
		const got = [...r.state.policy.values()].map((e) => [e.peer, e.proto, e.port, e.bits]);
		expect(got).toEqual([
			[ID.ANY, 6, 1000, 13], // 1000-1007
			[ID.ANY, 6, 1008, 12], // 1008-1023
			[ID.ANY, 6, 1024, 13], // 1024-1031
		]);
	});
	test("bad addresses and an address two pods claim are warnings, not errors", () => {
		const r = compile(
			input([], {
				nodeIps: [IP.node, "nope"],
				pods: [
					...pods,
					{ namespace: "other", name: "dup", labels: {}, ips: [IP.web, "1.2.3"], local: false, ports: [] },
					{ namespace: "default", name: "host-net", labels: {}, ips: [IP.node], local: true, ports: [] },
				],
			}),
		);
		expect(r.warnings).toEqual([
			'node address "nope" is not an IP address; ignored',
			`pod other/dup: ${IP.web}/32 is also default/web's; ignored`,
			'pod other/dup: "1.2.3" is not an IP address; ignored',
		]);
		expect(r.state.ips.get(`${IP.web}/32`)!.identity).toBe(ip(IP.web).identity);
		expect(r.state.ips.get(`${IP.node}/32`)!.identity).toBe(ID.HOST);
	});
});
