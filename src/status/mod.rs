//! What this node is doing and whether it is fit to serve: the state read
//! from its server (`node`), the health verdict (`health`), HAProxy's agent
//! check (`agent`), errant transactions (`errant`), and the comparison of
//! a replica with its source (`verify`).

pub mod agent;
pub mod errant;
pub mod health;
pub mod node;
pub mod verify;
