use proptest::prelude::*;

use super::*;

fn agent_name() -> impl Strategy<Value = String> {
    prop_oneof![Just("ana".to_string()), Just("bo".to_string())]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::CustomerMessage),
        Just(Event::Escalate),
        Just(Event::LeaveContact),
        Just(Event::Close),
        agent_name().prop_map(|agent| Event::AgentClaim { agent }),
        agent_name().prop_map(|to| Event::Reassign { to }),
        agent_name().prop_map(|agent| Event::AgentReply { agent }),
        agent_name().prop_map(|agent| Event::HandBack { agent }),
        agent_name().prop_map(|agent| Event::AgentClose { agent }),
        agent_name().prop_map(|agent| Event::Reopen { agent }),
    ]
}

#[test]
fn the_happy_path() {
    let s = ConversationState::new();
    let s = transition(&s, &Event::CustomerMessage).unwrap();
    assert_eq!(s.status, Status::Automated);
    let s = transition(&s, &Event::Escalate).unwrap();
    assert_eq!(s.status, Status::Agent);
    let ana = "ana".to_string();
    let s = transition(&s, &Event::AgentClaim { agent: ana.clone() }).unwrap();
    assert_eq!(s.assignee.as_deref(), Some("ana"));
    let s = transition(&s, &Event::AgentReply { agent: ana.clone() }).unwrap();
    let s = transition(&s, &Event::Close).unwrap();
    assert_eq!(s, next(Status::Closed, None));
    let s = transition(&s, &Event::CustomerMessage).unwrap();
    assert_eq!(
        s,
        next(Status::Automated, None),
        "a customer message reopens"
    );
}

fn next(status: Status, assignee: Option<&str>) -> ConversationState {
    ConversationState {
        status,
        assignee: assignee.map(str::to_string),
    }
}

#[test]
fn agents_close_only_what_is_theirs_or_nobodys() {
    let held = next(Status::Agent, Some("ana"));
    let bo = Event::AgentClose { agent: "bo".into() };
    assert_eq!(
        transition(&held, &bo),
        Err(TransitionError::ClaimedByOther {
            owner: "ana".into()
        })
    );
    let ana = Event::AgentClose {
        agent: "ana".into(),
    };
    assert_eq!(transition(&held, &ana), Ok(next(Status::Closed, None)));
    // Queued for anyone, or with the bot: any agent may close it.
    for state in [next(Status::Agent, None), next(Status::Automated, None)] {
        assert_eq!(transition(&state, &bo), Ok(next(Status::Closed, None)));
    }
    assert_eq!(
        transition(&held, &Event::Close),
        Ok(next(Status::Closed, None)),
        "admins and customers close anything"
    );
}

#[test]
fn illegal_transitions_are_typed() {
    let closed = next(Status::Closed, None);
    assert_eq!(
        transition(&closed, &Event::Close),
        Err(TransitionError::AlreadyClosed)
    );
    assert_eq!(
        transition(&closed, &Event::Escalate),
        Err(TransitionError::Closed)
    );
    let held = next(Status::Agent, Some("ana"));
    assert_eq!(
        transition(&held, &Event::AgentClaim { agent: "bo".into() }),
        Err(TransitionError::ClaimedByOther {
            owner: "ana".into()
        })
    );
    let queued = next(Status::Agent, None);
    assert_eq!(
        transition(&queued, &Event::AgentReply { agent: "bo".into() }),
        Err(TransitionError::NotClaimed)
    );
    let bot = next(Status::Automated, None);
    assert_eq!(
        transition(&bot, &Event::HandBack { agent: "bo".into() }),
        Err(TransitionError::NotWithAgent)
    );
    for open in [bot, queued, held] {
        assert_eq!(
            transition(&open, &Event::Reopen { agent: "bo".into() }),
            Err(TransitionError::NotClosed)
        );
    }
}

#[test]
fn a_reopened_conversation_is_held_by_whoever_reopened_it() {
    let closed = next(Status::Closed, None);
    let reopened = transition(&closed, &Event::Reopen { agent: "bo".into() });
    assert_eq!(reopened, Ok(next(Status::Agent, Some("bo"))));
}

proptest! {
    /// Invariants over any sequence of events, legal or not.
    #[test]
    fn invariants_hold_for_any_event_sequence(events in prop::collection::vec(event(), 0..64)) {
        let mut state = ConversationState::new();
        for event in &events {
            let before = state.clone();
            match transition(&state, event) {
                Ok(after) => {
                    // Only agent conversations have owners.
                    if after.assignee.is_some() {
                        prop_assert_eq!(after.status, Status::Agent);
                    }
                    // The ways out of closed: the customer writes (back to
                    // the bot), or someone reopens it (and holds it).
                    if before.status == Status::Closed {
                        match event {
                            Event::Reopen { agent } => prop_assert_eq!(&after, &next(Status::Agent, Some(agent.as_str()))),
                            _ => {
                                prop_assert_eq!(event, &Event::CustomerMessage);
                                prop_assert_eq!(&after, &ConversationState::new());
                            }
                        }
                    }
                    // Only a closed conversation reopens.
                    if matches!(event, Event::Reopen { .. }) {
                        prop_assert_eq!(before.status, Status::Closed);
                    }
                    // An agent only ever replies to a conversation they own.
                    if let Event::AgentReply { agent } = event {
                        prop_assert_eq!(before.assignee.as_ref(), Some(agent));
                        prop_assert_eq!(&after, &before);
                    }
                    // A claim never steals another agent's conversation.
                    if let Event::AgentClaim { agent } = event {
                        prop_assert!(before.assignee.is_none() || before.assignee.as_ref() == Some(agent));
                    }
                    // A reassigned conversation is with that person.
                    if let Event::Reassign { to } = event {
                        prop_assert_eq!(&after, &next(Status::Agent, Some(to.as_str())));
                    }
                    // An address left is for a person: queued if the bot had it.
                    if *event == Event::LeaveContact {
                        if before.status == Status::Automated {
                            prop_assert_eq!(&after, &next(Status::Agent, None));
                        } else {
                            prop_assert_eq!(&after, &before);
                        }
                    }
                    if *event == Event::Close {
                        prop_assert_eq!(&after, &next(Status::Closed, None));
                    }
                    // An agent never closes another agent's conversation.
                    if let Event::AgentClose { agent } = event {
                        prop_assert!(before.assignee.is_none() || before.assignee.as_ref() == Some(agent));
                        prop_assert_eq!(&after, &next(Status::Closed, None));
                    }
                    state = after;
                }
                Err(_) => {
                    // Errors leave no partial change behind (the caller keeps `state`).
                    let agent_event = matches!(
                        event,
                        Event::AgentClaim { .. } | Event::AgentReply { .. } | Event::HandBack { .. } | Event::AgentClose { .. }
                    );
                    if matches!(event, Event::Reopen { .. }) {
                        prop_assert!(before.status != Status::Closed);
                        continue;
                    }
                    prop_assert!(before.status == Status::Closed || agent_event);
                }
            }
        }
    }

    /// Transitions are deterministic.
    #[test]
    fn transitions_are_pure(events in prop::collection::vec(event(), 0..32)) {
        let run = || {
            let mut state = ConversationState::new();
            let mut trace = Vec::new();
            for event in &events {
                let result = transition(&state, event);
                if let Ok(next) = &result {
                    state = next.clone();
                }
                trace.push(result);
            }
            trace
        };
        prop_assert_eq!(run(), run());
    }
}
