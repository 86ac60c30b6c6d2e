//! `replikit server-id`: print the id this node would use, the address it
//! came from and the rule that chose it. Changes nothing.

use crate::config::settings::Settings;
use crate::exit_code::Fatal;
use crate::identity;

pub fn run(settings: &Settings) -> Result<i32, Fatal> {
    println!("{}", identity::identify(&settings.identity)?);
    Ok(0)
}
