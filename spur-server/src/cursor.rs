//! Keyset cursors as opaque strings: `<unix nanos>.<id>`.

use std::fmt::Display;
use std::str::FromStr;

use time::OffsetDateTime;

pub fn encode(at: OffsetDateTime, id: impl Display) -> String {
    format!("{}.{id}", at.unix_timestamp_nanos())
}

pub fn decode<Id: FromStr>(text: &str) -> Option<(OffsetDateTime, Id)> {
    let (nanos, id) = text.split_once('.')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
    Some((at, id.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_790_000_000_123_456_789).unwrap();
        let id = uuid::Uuid::now_v7();
        assert_eq!(decode::<uuid::Uuid>(&encode(at, id)), Some((at, id)));
        for bad in ["", "garbage", "12.notanid", "x.0195", &format!("1e99.{id}")] {
            assert_eq!(decode::<uuid::Uuid>(bad), None, "{bad}");
        }
    }
}
