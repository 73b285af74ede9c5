//! Provisioning: what the web pages, the command line and the serial
//! console offer to set up clients and check the box's surroundings.
//! Nothing here speaks HTTP; each face renders these answers its own way.
//!
//! - [`settings`]: the client settings of the configured services.
//! - [`autoconfig`]: the Thunderbird autoconfig document.
//! - [`autodiscover`]: the Outlook autodiscover (POX) exchange.
//! - [`mobileconfig`]: the Apple configuration profile.
//! - [`records`]: the DNS records clients discover the server by.
//! - [`xml`]: escaping and a small bounded XML reader.

pub mod autoconfig;
pub mod autodiscover;
pub mod mobileconfig;
pub mod records;
pub mod settings;
pub mod xml;

pub use autoconfig::thunderbird;
pub use autodiscover::autodiscover;
pub use mobileconfig::mobileconfig;
pub use settings::{ClientSettings, Protocol, Security, ServerEntry};
