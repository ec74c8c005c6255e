use super::*;

fn shop() -> Vec<EmailAccount> {
    vec![EmailAccount {
        address: "support@acme.example".into(),
        name: Some("Acme Support".into()),
    }]
}

/// A message from Ann with these extra headers and this body.
fn mail(headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ann Smith <Ann@Example.org>\r\nTo: Acme <support@acme.example>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

fn event(raw: &[u8]) -> InboundEvent {
    match parse_mime(raw, &shop()) {
        Ok(Parsed::Message(mail)) => mail.event,
        other => panic!("not a message: {other:?}"),
    }
}

fn thread_of(raw: &[u8]) -> EmailThread {
    EmailThread::decode(&event(raw).thread.thread).expect("an email thread")
}

#[test]
fn a_new_message_opens_a_thread_rooted_at_its_id() {
    let raw = mail(
        "Message-ID: <first@example.org>\r\nSubject: Return policy?\r\n",
        "Hi, how long do I have?\r\n\r\nAnn",
    );
    let event = event(&raw);
    assert_eq!(event.thread.channel, CHANNEL);
    assert_eq!(event.thread.account, "support@acme.example");
    assert_eq!(
        EmailThread::decode(&event.thread.thread),
        Some(EmailThread {
            customer: "ann@example.org".into(),
            root: "first@example.org".into()
        })
    );
    assert_eq!(event.external_id, "first@example.org");
    assert_eq!(event.sender_name.as_deref(), Some("Ann Smith"));
    assert_eq!(event.sender_email.as_deref(), Some("ann@example.org"));
    assert_eq!(event.subject.as_deref(), Some("Return policy?"));
    // The subject is part of a new thread's question.
    assert_eq!(
        event.text.as_deref(),
        Some("Return policy?\n\nHi, how long do I have?\n\nAnn")
    );
    assert_eq!(event.kind, MessageKind::Text);
}

#[test]
fn replies_join_the_thread_however_the_client_threads_them() {
    let root = "first@example.org";
    let ours = reply_message_id(MessageId(uuid::Uuid::from_u128(7)), root, "acme.example");
    let expected = EmailThread {
        customer: "ann@example.org".into(),
        root: root.into(),
    };
    // A full References chain, as most clients write it.
    let full = mail(
        &format!(
            "Message-ID: <second@example.org>\r\nSubject: Re: Return policy?\r\nIn-Reply-To: <{ours}>\r\nReferences: <{root}> <{ours}>\r\n"
        ),
        "Thanks, and exchanges?\r\n\r\nOn Mon, 7 Dec 2026 at 10:02, Acme <support@acme.example> wrote:\r\n> 30 days.\r\n",
    );
    assert_eq!(thread_of(&full), expected);
    assert_eq!(event(&full).text.as_deref(), Some("Thanks, and exchanges?"));
    // In-Reply-To alone: our id carries the root.
    let terse = mail(
        &format!("Message-ID: <third@example.org>\r\nIn-Reply-To: <{ours}>\r\n"),
        "And refunds?",
    );
    assert_eq!(thread_of(&terse), expected);
    // A shortened References list that lost the root but kept our id.
    let shortened = mail(
        &format!(
            "Message-ID: <fourth@example.org>\r\nReferences: <x@example.org>\r\n <{ours}> <third@example.org>\r\n"
        ),
        "Still there?",
    );
    assert_eq!(thread_of(&shortened), expected);
    // A reply to the customer's own earlier message (no id of ours).
    let own = mail(
        &format!("Message-ID: <fifth@example.org>\r\nIn-Reply-To: <{root}>\r\n"),
        "Forgot to say: order 1042.",
    );
    assert_eq!(thread_of(&own), expected);
    // A reply's subject is not prepended: it is the thread's, not a question.
    assert_eq!(
        event(&own).text.as_deref(),
        Some("Forgot to say: order 1042.")
    );
}

#[test]
fn another_sender_quoting_the_thread_gets_their_own_thread() {
    let raw = mail(
        "Message-ID: <m@example.org>\r\nReferences: <first@example.org>\r\n",
        "hi",
    );
    let other = String::from_utf8(raw)
        .unwrap()
        .replace("Ann@Example.org", "mallory@example.net");
    let ann = event(&mail(
        "Message-ID: <n@example.org>\r\nReferences: <first@example.org>\r\n",
        "hi",
    ));
    assert_ne!(event(other.as_bytes()).thread, ann.thread);
}

#[test]
fn robots_loops_and_strangers_are_ignored() {
    let ignored = |raw: &[u8], accounts: &[EmailAccount]| match parse_mime(raw, accounts) {
        Ok(Parsed::Ignored(why)) => Some(why),
        _ => None,
    };
    for header in [
        "Auto-Submitted: auto-replied\r\n",
        "Precedence: bulk\r\n",
        "X-Autoreply: yes\r\n",
        "List-Id: <news.example.org>\r\n",
        "Return-Path: <>\r\n",
    ] {
        let raw = mail(&format!("Message-ID: <a@b>\r\n{header}"), "Out of office");
        assert_eq!(ignored(&raw, &shop()), Some(Ignored::Automatic), "{header}");
    }
    // `Auto-Submitted: no` is a person.
    let person = mail("Message-ID: <a@b>\r\nAuto-Submitted: no\r\n", "hello");
    assert_eq!(ignored(&person, &shop()), None);
    let daemon = String::from_utf8(mail("", "bounce"))
        .unwrap()
        .replace("Ann@Example.org", "MAILER-DAEMON@mx.example.org");
    assert_eq!(
        ignored(daemon.as_bytes(), &shop()),
        Some(Ignored::Automatic)
    );
    let ours = String::from_utf8(mail("", "loop"))
        .unwrap()
        .replace("Ann@Example.org", "Support@Acme.example");
    assert_eq!(ignored(ours.as_bytes(), &shop()), Some(Ignored::FromUs));
    // With two mailboxes, a message naming neither is not ours; with one,
    // a Bcc'd copy (naming none) is.
    let two = [
        shop().remove(0),
        EmailAccount {
            address: "sales@acme.example".into(),
            name: None,
        },
    ];
    let bcc = String::from_utf8(mail("", "hi"))
        .unwrap()
        .replace("support@acme.example", "someone@else.example");
    assert_eq!(ignored(bcc.as_bytes(), &two), Some(Ignored::NotOurs));
    assert_eq!(ignored(bcc.as_bytes(), &shop()), None);
    let forwarded = format!("Delivered-To: sales@acme.example\r\n{bcc}");
    match parse_mime(forwarded.as_bytes(), &two) {
        Ok(Parsed::Message(mail)) => assert_eq!(mail.event.thread.account, "sales@acme.example"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn html_attachments_and_unreadable_mail() {
    let html = "From: ann@example.org\r\nTo: support@acme.example\r\nMessage-ID: <h@x>\r\nIn-Reply-To: <r@x>\r\nContent-Type: text/html\r\n\r\n<p>Where is <b>order 1042</b>?</p>";
    let text = event(html.as_bytes()).text.unwrap_or_default();
    assert!(text.contains("Where is order 1042?"), "{text}");
    let photo = "From: ann@example.org\r\nTo: support@acme.example\r\nMessage-ID: <p@x>\r\nIn-Reply-To: <r@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=a.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--b--\r\n";
    let photo = event(photo.as_bytes());
    assert_eq!((photo.kind, photo.text), (MessageKind::Image, None));
    assert!(parse_mime(b"\x00\x01 not mail", &shop()).is_err());
    assert_eq!(parse_mime(b"", &shop()), Err(EmailError::NotMime));
    assert_eq!(
        parse_mime(b"To: support@acme.example\r\nSubject: x\r\n\r\nhi", &shop()),
        Err(EmailError::NoSender)
    );
}

#[test]
fn ids_are_stable_and_long_mail_is_cut() {
    // No Message-ID: the same bytes are the same message.
    let raw = mail("Subject: hi\r\n", "hello");
    assert_eq!(event(&raw).external_id, event(&raw).external_id);
    assert_ne!(
        event(&raw).external_id,
        event(&mail("Subject: hi\r\n", "hello!")).external_id
    );
    let long = mail(
        "Message-ID: <l@x>\r\nIn-Reply-To: <r@x>\r\n",
        &"word ".repeat(5_000),
    );
    let text = event(&long).text.unwrap_or_default();
    assert!(text.chars().count() <= MAX_TEXT_CHARS + 1, "{}", text.len());
    assert!(text.ends_with('…'));
}

#[test]
fn subjects_lose_their_reply_prefixes() {
    assert_eq!(base_subject("Re: RE: Fwd: Order 1042"), "Order 1042");
    assert_eq!(base_subject("AW: Rechnung"), "Rechnung");
    assert_eq!(base_subject("Reorder question"), "Reorder question");
}

#[test]
fn reply_ids_carry_their_root() {
    let id = reply_message_id(MessageId(uuid::Uuid::from_u128(1)), "a.b@c", "acme.example");
    assert!(id.ends_with("@acme.example"), "{id}");
    assert_eq!(root_of_reply(&id).as_deref(), Some("a.b@c"));
    assert_eq!(root_of_reply("spur.x.!!!@acme.example"), None);
    assert_eq!(root_of_reply("someone@else"), None);
}

#[test]
fn control_characters_never_reach_the_store() {
    let raw = mail(
        "Message-ID: <c@x>\r\nSubject: hi\x00there\r\n",
        "one\x00two\x07\r\nthree",
    );
    let event = event(&raw);
    assert_eq!(event.subject.as_deref(), Some("hithere"));
    let folded = mail("Message-ID: <f@x>\r\nSubject: two\r\n\tlines\r\n", "hi");
    assert_eq!(self::event(&folded).subject.as_deref(), Some("two lines"));
    assert!(
        !event
            .text
            .unwrap_or_default()
            .chars()
            .any(|c| c == '\0' || c == '\x07')
    );
    let bad_id = mail("Message-ID: <a\x00b@x>\r\n", "hi");
    assert!(!self::event(&bad_id).thread.thread.contains('\0'));
}

#[test]
fn attachments_come_with_their_type_name_and_bytes() {
    let raw = "From: Ann <ann@example.org>\r\nTo: support@acme.example\r\nMessage-ID: <files@example.org>\r\nSubject: Damaged parcel\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe box arrived crushed, photo attached.\r\n--b\r\nContent-Type: image/jpeg; name=\"box.jpg\"\r\nContent-Disposition: attachment; filename=\"box.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--b\r\nContent-Type: application/x-msdownload\r\nContent-Disposition: attachment; filename=\"invoice.exe\"\r\n\r\nMZ\r\n--b--\r\n";
    let Ok(Parsed::Message(mail)) = parse_mime(raw.as_bytes(), &shop()) else {
        panic!("not a message");
    };
    assert_eq!(mail.event.kind, MessageKind::Image);
    assert!(mail.event.text.as_deref().unwrap().contains("crushed"));
    let files: Vec<_> = mail
        .files
        .iter()
        .map(|f| {
            (
                f.attachment.kind,
                f.attachment.mime.as_deref(),
                f.attachment.name.as_deref(),
                f.bytes.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        files,
        vec![
            (
                MessageKind::Image,
                Some("image/jpeg"),
                Some("box.jpg"),
                &[0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10][..]
            ),
            (
                MessageKind::Document,
                Some("application/x-msdownload"),
                Some("invoice.exe"),
                &b"MZ"[..]
            ),
        ]
    );
}

#[test]
fn every_reply_prefix_is_stripped_from_the_subject_it_threads_by() {
    for subject in [
        "Re: Parcel",
        "AW: Parcel",
        "Antw: Parcel",
        "VS: Parcel",
        "R: Parcel",
        "Odp: Parcel",
        "Re: Fwd: Parcel",
    ] {
        assert_eq!(base_subject(subject), "Parcel", "{subject}");
        assert!(is_reply_subject(subject), "{subject}");
    }
    assert!(!is_reply_subject("Fwd: Parcel"));
    assert!(!is_reply_subject("Parcel"));
    assert_eq!(base_subject("Re: Reading list"), "Reading list");
}
