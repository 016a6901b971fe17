#![no_main]
//! `OnAttributeCollectionStart` bodies: always HTTP 200 with one Start action or a 400 JSON
//! error; never an admit without an admissible address.

use libfuzzer_sys::fuzz_target;
use signup_gate_testkit::events::Event;

fuzz_target!(|data: &[u8]| signup_gate_testkit::harness::fuzz_event(Event::Start, data));
