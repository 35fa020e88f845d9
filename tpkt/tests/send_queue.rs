//! Property test of the send queue: whatever mix of pushes and partial writes, the bytes written
//! decode to exactly the frames the queue accepted, in order, and the queue never exceeds its
//! bounds.

use proptest::prelude::*;
use tpkt::{Decoder, EncodeError, Frame, FrameReader, SendQueue};

#[derive(Debug, Clone)]
enum Op {
    Ike(Vec<u8>),
    Esp(Vec<u8>),
    Write(usize),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 28..300).prop_map(Op::Ike),
        (1u32.., proptest::collection::vec(any::<u8>(), 4..300)).prop_map(|(spi, rest)| {
            let mut packet = spi.to_be_bytes().to_vec();
            packet.extend(rest);
            Op::Esp(packet)
        }),
        (0usize..400).prop_map(Op::Write),
    ]
}

proptest! {
    #[test]
    fn written_bytes_decode_to_the_accepted_frames(
        ops in proptest::collection::vec(arb_op(), 0..80),
        capacity in 400usize..3000,
        reserve_share in 0usize..=100,
    ) {
        let ike_reserve = capacity * reserve_share / 100;
        let esp_limit = capacity - ike_reserve;
        let mut queue = SendQueue::with_capacity(capacity, ike_reserve).unwrap();
        let mut accepted = Vec::new();
        let mut wire = Vec::new();
        for op in ops {
            let before = queue.len();
            match op {
                Op::Ike(message) => match queue.push_ike(&message) {
                    Ok(()) => accepted.push(Op::Ike(message)),
                    Err(EncodeError::QueueFull { .. }) => {
                        prop_assert!(before + 8 + message.len() > capacity)
                    }
                    Err(other) => prop_assert!(false, "{other}"),
                },
                Op::Esp(packet) => match queue.push_esp(&packet) {
                    Ok(()) => {
                        prop_assert!(before + 4 + packet.len() <= esp_limit);
                        accepted.push(Op::Esp(packet));
                    }
                    Err(EncodeError::QueueFull { .. }) => {
                        prop_assert!(before + 4 + packet.len() > esp_limit)
                    }
                    Err(other) => prop_assert!(false, "{other}"),
                },
                Op::Write(n) => {
                    let n = n.min(queue.chunk().len());
                    wire.extend_from_slice(&queue.chunk()[..n]);
                    queue.advance(n);
                    prop_assert_eq!(queue.len(), before - n);
                }
            }
            prop_assert!(queue.len() <= capacity);
            prop_assert_eq!(queue.chunk().is_empty(), queue.is_empty());
        }
        while !queue.is_empty() {
            let chunk = queue.chunk().to_vec();
            wire.extend_from_slice(&chunk);
            queue.advance(chunk.len());
        }

        let mut reader = FrameReader::with_capacity(Decoder::new(), wire.len());
        prop_assert_eq!(reader.extend_from_slice(&wire), wire.len());
        for expected in accepted {
            let frame = reader.next_frame().unwrap();
            match (expected, frame) {
                (Op::Ike(message), Some(Frame::Ike(body))) => prop_assert_eq!(&message[..], &body[..]),
                (Op::Esp(packet), Some(Frame::Esp(body))) => prop_assert_eq!(&packet[..], &body[..]),
                (expected, frame) => prop_assert!(false, "expected {expected:?}, got {frame:?}"),
            }
        }
        prop_assert_eq!(reader.next_frame(), Ok(None));
        prop_assert_eq!(reader.finish(), Ok(()));
    }
}
