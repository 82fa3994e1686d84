use super::*;
use crate::sip::dns::wire::parse;
use TransportKind::{Tcp, Tls, Udp};

const ALL: [TransportKind; 3] = [Udp, Tcp, Tls];

fn naptr(order: u16, pref: u16, flags: &str, service: &str, repl: &str) -> Naptr {
    Naptr {
        order,
        preference: pref,
        flags: flags.into(),
        service: service.into(),
        regexp: String::new(),
        replacement: repl.into(),
    }
}

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
    Srv {
        priority,
        weight,
        port,
        target: target.into(),
    }
}

fn targets(plan: SrvPlan) -> Vec<u16> {
    match plan {
        SrvPlan::Targets(t) => t.iter().map(|s| s.port).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_uri_says_what_to_ask() {
    let t = SipTarget::from_uri("sip:911@carrier.test").unwrap();
    assert_eq!(
        t,
        SipTarget {
            host: "carrier.test".into(),
            port: None,
            transport: None,
            secure: false
        }
    );
    assert_eq!(t.default_transport(), Udp);
    let t = SipTarget::from_uri("<sip:carrier.test:5080;transport=TCP>").unwrap();
    assert_eq!((t.port, t.transport), (Some(5080), Some(Tcp)));
    let t = SipTarget::from_uri("sips:911@carrier.test;transport=tcp").unwrap();
    assert_eq!((t.transport, t.secure), (Some(Tls), true));
    assert_eq!(
        SipTarget::from_uri("sips:x@carrier.test")
            .unwrap()
            .default_transport(),
        Tls
    );
    let t = SipTarget::from_uri("sip:911@127.0.0.1:5090").unwrap();
    assert_eq!(t.ip(), Some(IpAddr::from([127, 0, 0, 1])));
    let t = SipTarget::from_uri("sip:911@[::1]:5090").unwrap();
    assert_eq!(t.ip(), Some("::1".parse().unwrap()));
    assert!(SipTarget::from_uri("not a uri").is_none());
    assert_eq!(srv_name("carrier.test.", Tls), "_sips._tcp.carrier.test");
    assert_eq!(srv_name("carrier.test", Udp), "_sip._udp.carrier.test");
    assert_eq!((default_port(Tls), default_port(Tcp)), (5061, 5060));
}

#[test]
fn naptr_records_are_filtered_to_our_services_in_order_then_preference() {
    let records = [
        naptr(20, 10, "s", "SIP+D2T", "_sip._tcp.c.test"),
        naptr(10, 90, "S", "sip+d2u", "_sip._udp.c.test"),
        naptr(10, 50, "s", "SIPS+D2T", "_sips._tcp.c.test"),
        naptr(5, 1, "s", "SIP+D2S", "_sip._sctp.c.test"), // SCTP: not ours
        naptr(5, 1, "u", "E2U+sip", "_x.c.test"),         // ENUM, not SIP
        naptr(5, 2, "s", "SIP+D2U", "."),                 // no replacement
    ];
    assert_eq!(
        naptr_services(&records, false, &ALL),
        [
            (Tls, "_sips._tcp.c.test".to_string()),
            (Udp, "_sip._udp.c.test".to_string()),
            (Tcp, "_sip._tcp.c.test".to_string()),
        ]
    );
    // No TLS carrier here: TLS is not usable.
    assert_eq!(naptr_services(&records, false, &[Udp, Tcp])[0].0, Udp);
    // A sips: URI takes SIPS+D2T only.
    assert_eq!(
        naptr_services(&records, true, &ALL),
        [(Tls, "_sips._tcp.c.test".to_string())]
    );
    let mut with_regexp = naptr(1, 1, "s", "SIP+D2U", "_sip._udp.c.test");
    with_regexp.regexp = "!^.*$!sip:x@y!".into();
    assert!(naptr_services(&[with_regexp], false, &ALL).is_empty());
    assert_eq!(
        fallback_services("c.test", false, &[Udp, Tcp]),
        [
            (Udp, "_sip._udp.c.test".to_string()),
            (Tcp, "_sip._tcp.c.test".to_string())
        ]
    );
    assert!(fallback_services("c.test", true, &[Udp, Tcp]).is_empty());
}

#[test]
fn srv_records_go_by_priority_then_weighted_draw() {
    let records = [
        srv(20, 0, 3, "c.test"),
        srv(10, 10, 1, "a.test"),
        srv(10, 30, 2, "b.test"),
    ];
    // Running sums in priority 10: a 10, b 40. A draw of 0..=10 picks a, 11..=40 b.
    assert_eq!(targets(order_srv(&records, || 10)), [1, 2, 3]);
    assert_eq!(targets(order_srv(&records, || 11)), [2, 1, 3]);
    // Draws wrap into 0..=sum: 41 % 41 = 0 → a.
    assert_eq!(targets(order_srv(&records, || 41)), [1, 2, 3]);
    // Over many draws, b (weight 30) comes first about three times as often as a (10).
    let mut rng = crate::sip::random::Random::seeded(3);
    let b_first = (0..4000)
        .filter(|_| targets(order_srv(&records, || rng.u32()))[0] == 2)
        .count();
    assert!((2800..3200).contains(&b_first), "{b_first}");
    // Zero weights are drawn first in the running sum: picked only on a draw of 0.
    let zero = [srv(1, 0, 7, "z.test"), srv(1, 5, 8, "w.test")];
    assert_eq!(targets(order_srv(&zero, || 0)), [7, 8]);
    assert_eq!(targets(order_srv(&zero, || 1)), [8, 7]);
    // All weights zero: taken in the order received.
    let zeros = [srv(1, 0, 7, "z.test"), srv(1, 0, 8, "w.test")];
    assert_eq!(targets(order_srv(&zeros, || 12345)), [7, 8]);
}

#[test]
fn a_dot_target_means_no_service_and_no_records_means_the_domain_itself() {
    assert_eq!(order_srv(&[srv(0, 0, 0, ".")], || 0), SrvPlan::NotOffered);
    assert_eq!(order_srv(&[], || 0), SrvPlan::NoRecords);
    // The most weights can add up to does not overflow.
    let heavy: Vec<Srv> = (0..8).map(|i| srv(1, u16::MAX, i, "h.test")).collect();
    assert_eq!(targets(order_srv(&heavy, || u32::MAX)).len(), 8);
}

#[test]
fn addresses_come_from_answers_and_additional_records_following_cnames() {
    // The SRV answer captured from dnsmasq (see wire_tests): its additional section.
    let r = parse(
        &(0..SRV_PACKET.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&SRV_PACKET[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    assert_eq!(
        addresses(&r.additional, "SIP2.carrier.test."),
        [IpAddr::from([127, 0, 0, 2]), "::1".parse().unwrap()]
    );
    assert!(addresses(&r.additional, "sip3.carrier.test").is_empty());
    assert_eq!(min_ttl(&r.answers), Some(60));
    let rec = |name: &str, data: RData| Record {
        name: name.into(),
        ttl: 30,
        data,
    };
    let chain = [
        rec("a.test", RData::Cname("b.test".into())),
        rec("b.test", RData::Cname("a.test".into())), // a loop: followed once
        rec("b.test", RData::A([192, 0, 2, 7].into())),
        rec("c.test", RData::A([192, 0, 2, 9].into())),
    ];
    assert_eq!(addresses(&chain, "a.test"), [IpAddr::from([192, 0, 2, 7])]);
}

const SRV_PACKET: &str = "234585800001000200000003045f736970045f756470076361727269657204746573740000210001c00c002100010000003c00190014000013d004736970320763617272696572047465737400c00c002100010000003c0019000a003c13ce04736970310763617272696572047465737400c05f000100010000003c00047f000001c03a000100010000003c00047f000002c03a001c00010000003c001000000000000000000000000000000001";

#[test]
fn nameservers_are_read_from_resolv_conf() {
    let conf = "# generated\nsearch example\nnameserver 192.0.2.53\nnameserver  2001:db8::53\nnameserver fe80::1%eth0\noptions edns0\n";
    assert_eq!(
        nameservers(conf),
        [
            "192.0.2.53:53".parse::<SocketAddr>().unwrap(),
            "[2001:db8::53]:53".parse().unwrap()
        ]
    );
}

#[test]
fn a_hosts_file_names_addresses() {
    let hosts = "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n# 10.0.0.1 gw.test\n192.0.2.5 gw.test GW2.test # the gateway\nnonsense line\n";
    assert_eq!(
        hosts_file(hosts, "LOCALHOST"),
        [IpAddr::from([127, 0, 0, 1]), "::1".parse().unwrap()]
    );
    assert_eq!(
        hosts_file(hosts, "gw2.test."),
        [IpAddr::from([192, 0, 2, 5])]
    );
    assert!(hosts_file(hosts, "nonsense").is_empty());
}
