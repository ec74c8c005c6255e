macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            /// The hyphenated form only (what the API documents and
            /// returns), so every host reads ids alike.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.len() != 36 {
                    return uuid::Uuid::parse_str("").map(Self);
                }
                uuid::Uuid::try_parse(s).map(Self)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }
    };
}

pub(crate) use uuid_id;

uuid_id!(
    /// The id agents and admins see. Time-ordered (UUID v7).
    ConversationId
);
uuid_id!(
    /// A message id. Time-ordered (UUID v7).
    MessageId
);
uuid_id!(
    /// The customer's secret handle on one conversation (random UUID v4).
    /// Whoever holds it can read and write that conversation, so it is never
    /// the same as the [`ConversationId`] shown to agents.
    SessionId
);
