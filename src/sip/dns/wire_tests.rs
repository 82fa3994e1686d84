//! Packets captured from dnsmasq 2.90 (the answers to the queries shown), and hand-made
//! broken ones.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
        .collect()
}

/// NAPTR carrier.test: SIP+D2T (order 20) and SIP+D2U (order 10), compressed owner names.
const NAPTR: &str = "123485800001000200000000076361727269657204746573740000230001c00c002300010000003c0027001400320173075349502b44325400045f736970045f7463700763617272696572047465737400c00c002300010000003c0027000a00320173075349502b44325500045f736970045f7564700763617272696572047465737400";
/// SRV _sip._udp.carrier.test: sip2 (priority 20) then sip1 (10), with A and AAAA records in
/// the additional section.
const SRV: &str = "234585800001000200000003045f736970045f756470076361727269657204746573740000210001c00c002100010000003c00190014000013d004736970320763617272696572047465737400c00c002100010000003c0019000a003c13ce04736970310763617272696572047465737400c05f000100010000003c00047f000001c03a000100010000003c00047f000002c03a001c00010000003c001000000000000000000000000000000001";
/// A sip1.carrier.test.
const A: &str = "3456858000010001000000000473697031076361727269657204746573740000010001c00c000100010000003c00047f000001";
/// SRV nothing.test: REFUSED, no records.
const REFUSED: &str = "567881850001000000000000076e6f7468696e6704746573740000210001";

#[test]
fn a_query_is_written_as_rfc_1035_says() {
    let q = query(0x2345, "_sip._udp.carrier.test.", RecordType::Srv).unwrap();
    // The question dnsmasq answered in SRV, header with RD and one question.
    assert_eq!(
        q,
        hex(&format!("{}{}", "234501000001000000000000", &SRV[24..80]))
    );
    assert_eq!(
        &query(7, "carrier.test", RecordType::Naptr).unwrap()[26..],
        &[0, 35, 0, 1]
    );
    for bad in [
        "",
        ".",
        "a..b",
        "with space.test",
        &"x".repeat(64),
        &"a.".repeat(130),
    ] {
        assert!(
            matches!(
                query(1, bad, RecordType::A),
                Err(WireError::BadQueryName(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn naptr_answers_are_read() {
    let r = parse(&hex(NAPTR)).unwrap();
    assert!(r.answers_query(0x1234, "CARRIER.test.", RecordType::Naptr));
    assert!(!r.answers_query(0x1235, "carrier.test", RecordType::Naptr));
    assert!(!r.answers_query(0x1234, "carrier.test", RecordType::Srv));
    assert_eq!(r.rcode, Rcode::NoError);
    assert!(!r.truncated);
    assert_eq!(r.answers.len(), 2);
    assert_eq!(r.answers[0].name, "carrier.test");
    assert_eq!(r.answers[0].ttl, 60);
    assert_eq!(
        r.answers[1].data,
        RData::Naptr(Naptr {
            order: 10,
            preference: 50,
            flags: "s".into(),
            service: "SIP+D2U".into(),
            regexp: String::new(),
            replacement: "_sip._udp.carrier.test".into(),
        })
    );
}

#[test]
fn srv_answers_and_their_additional_addresses_are_read() {
    let r = parse(&hex(SRV)).unwrap();
    let srv: Vec<&Srv> = r
        .answers
        .iter()
        .filter_map(|a| match &a.data {
            RData::Srv(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(
        srv,
        [
            &Srv {
                priority: 20,
                weight: 0,
                port: 5072,
                target: "sip2.carrier.test".into()
            },
            &Srv {
                priority: 10,
                weight: 60,
                port: 5070,
                target: "sip1.carrier.test".into()
            }
        ]
    );
    // Owner names given by pointers into the SRV targets.
    let extra: Vec<(&str, &RData)> = r
        .additional
        .iter()
        .map(|a| (a.name.as_str(), &a.data))
        .collect();
    assert_eq!(
        extra,
        [
            ("sip1.carrier.test", &RData::A(Ipv4Addr::new(127, 0, 0, 1))),
            ("sip2.carrier.test", &RData::A(Ipv4Addr::new(127, 0, 0, 2))),
            ("sip2.carrier.test", &RData::Aaaa(Ipv6Addr::LOCALHOST)),
        ]
    );
    let a = parse(&hex(A)).unwrap();
    assert_eq!(a.answers[0].data, RData::A(Ipv4Addr::LOCALHOST));
    let refused = parse(&hex(REFUSED)).unwrap();
    assert_eq!(refused.rcode, Rcode::Refused);
    assert!(refused.answers.is_empty());
}

#[test]
fn every_cut_of_a_real_packet_is_an_error_not_a_panic() {
    let full = hex(SRV);
    for n in 0..full.len() {
        assert!(parse(&full[..n]).is_err(), "cut at {n}");
    }
    // Every single byte flipped: whatever comes out, nothing panics.
    for i in 0..full.len() {
        let mut p = full.clone();
        p[i] ^= 0xFF;
        let _ = parse(&p);
    }
}

#[test]
fn truncated_responses_are_reported_with_what_was_read_whole() {
    let mut p = hex(SRV);
    p[2] |= 0x02; // TC
    let cut = p.len() - 20; // inside the last additional record
    let r = parse(&p[..cut]).unwrap();
    assert!(r.truncated);
    assert_eq!(r.answers.len(), 2);
    assert_eq!(r.additional.len(), 2);
}

#[test]
fn compression_loops_and_forward_pointers_are_refused() {
    // Header, one answer; its name is a pointer to itself.
    let mut p = hex("000181800000000100000000");
    p.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
    assert_eq!(parse(&p), Err(WireError::PointerLoop { at: 12 }));
    // Two pointers to each other: the second points forward.
    let mut p = hex("000181800000000100000000");
    p.extend_from_slice(&[1, b'a', 0xC0, 16, 0xC0, 12]);
    assert!(matches!(parse(&p), Err(WireError::PointerLoop { .. })));
    // A label type from RFC 6891 (0x40) is not read.
    let mut p = hex("000181800000000100000000");
    p.extend_from_slice(&[0x41, 0]);
    assert_eq!(parse(&p), Err(WireError::BadLabel(0x41)));
    // A query (QR clear) is not a response.
    assert_eq!(
        parse(&query(1, "a.test", RecordType::A).unwrap()),
        Err(WireError::NotAResponse)
    );
}

#[test]
fn names_longer_than_255_bytes_are_refused_and_odd_labels_escaped() {
    let mut p = hex("000181800000000100000000");
    for _ in 0..5 {
        p.push(63);
        p.extend_from_slice(&[b'x'; 63]);
    }
    p.push(0);
    assert_eq!(parse(&p), Err(WireError::NameTooLong));
    let mut p = hex("000181800000000100000000");
    p.extend_from_slice(&[3, b'a', b'.', 0x07, 4, b't', b'e', b's', b't', 0]);
    p.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 9, 0, 4, 10, 0, 0, 1]);
    let r = parse(&p).unwrap();
    assert_eq!(r.answers[0].name, "a\\.\\007.test");
    assert_eq!(r.answers[0].data, RData::A(Ipv4Addr::new(10, 0, 0, 1)));
}

#[test]
fn record_data_must_fit_its_type() {
    // An A record with 3 bytes of data.
    let mut p = hex("000181800000000100000000");
    p.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1, 0, 0, 0, 9, 0, 3, 10, 0, 0]);
    assert_eq!(parse(&p), Err(WireError::BadRdata { rtype: 1, len: 3 }));
    // An SRV record whose target runs past its declared length.
    let mut p = hex("000181800000000100000000");
    p.extend_from_slice(&[1, b'a', 0, 0, 33, 0, 1, 0, 0, 0, 9, 0, 8]);
    p.extend_from_slice(&[0, 1, 0, 1, 0x13, 0xc4, 1, b'b', 0]);
    assert!(parse(&p).is_err());
    // A record type we do not read is kept as such.
    let mut p = hex("000181800000000100000000");
    p.extend_from_slice(&[1, b'a', 0, 0, 16, 0, 1, 0, 0, 0, 9, 0, 2, 1, b'x']);
    assert_eq!(parse(&p).unwrap().answers[0].data, RData::Other(16));
}
