//! Shared helpers for the integration tests.
#![allow(dead_code)]

use qga_core::platform::mock::MockPlatform;
use qga_core::Agent;

/// A mock agent with a small request buffer, so limits are easy to reach.
pub type SmallAgent = Agent<MockPlatform, 512>;

/// A boxed mock agent (keeps test stacks small).
pub fn agent() -> Box<SmallAgent> {
    Box::new(Agent::new(MockPlatform::new()))
}

/// Feeds `input` in one piece and returns everything written.
pub fn replies(agent: &mut SmallAgent, input: &[u8]) -> String {
    let mut out = Vec::new();
    agent.feed(input, &mut out).expect("Vec never fails");
    String::from_utf8_lossy(&out).into_owned()
}

/// Feeds `input` to a fresh agent.
pub fn run(input: &[u8]) -> String {
    replies(&mut agent(), input)
}
