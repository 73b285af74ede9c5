//! The terminal calls of the console that need the C library: raw mode
//! (termios) and waiting for input with a time-out (poll). Besides
//! `malloc`, the only unsafe code of the crate; each call is one libc
//! function on a file descriptor the caller owns, with its result checked.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// The terminal's settings before raw mode, put back on drop.
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: libc::termios,
}

/// Line speeds a serial line may be set to.
const SPEEDS: &[(u32, libc::speed_t)] = &[
    (1200, libc::B1200),
    (2400, libc::B2400),
    (4800, libc::B4800),
    (9600, libc::B9600),
    (19200, libc::B19200),
    (38400, libc::B38400),
    (57600, libc::B57600),
    (115200, libc::B115200),
    (230400, libc::B230400),
    (460800, libc::B460800),
    (921600, libc::B921600),
];

/// Whether `baud` is a speed [`RawMode::enter`] can set.
pub fn valid_baud(baud: u32) -> bool {
    SPEEDS.iter().any(|(b, _)| *b == baud)
}

impl<'a> RawMode<'a> {
    /// Puts the terminal `fd` in raw mode: bytes as typed, no echo, no
    /// signals from Ctrl-C; 8 data bits, no parity, one stop bit (8N1),
    /// at `baud` when given (a serial line), the modem lines ignored.
    pub fn enter(fd: BorrowedFd<'a>, baud: Option<u32>) -> io::Result<RawMode<'a>> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor and a pointer to a termios.
        if unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw only changes the fields of `raw`.
        unsafe { libc::cfmakeraw(&mut raw) };
        raw.c_cflag &= !(libc::CSIZE | libc::PARENB | libc::CSTOPB | libc::CRTSCTS);
        raw.c_cflag |= libc::CS8 | libc::CREAD | libc::CLOCAL;
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        if let Some(baud) = baud {
            let speed = SPEEDS
                .iter()
                .find(|(b, _)| *b == baud)
                .map(|(_, s)| *s)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unknown speed"))?;
            // SAFETY: both only change the fields of `raw`.
            unsafe {
                libc::cfsetispeed(&mut raw, speed);
                libc::cfsetospeed(&mut raw, speed);
            }
        }
        // SAFETY: a valid descriptor and a filled termios.
        if unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `enter`; a terminal that hung up refuses, which
        // is fine.
        unsafe { libc::tcsetattr(self.fd.as_raw_fd(), libc::TCSANOW, &self.saved) };
    }
}

/// What waiting for input found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Bytes to read (or an end of file to read).
    Input,
    /// The line hung up (a pulled cable, a closed terminal).
    HungUp,
    /// Nothing within the time-out.
    TimedOut,
}

/// Waits at most `timeout` for input on `fd`.
pub fn wait_input(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<Ready> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one pollfd, valid for the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::Interrupted => Ok(Ready::TimedOut),
            _ => Err(e),
        };
    }
    Ok(if n == 0 {
        Ready::TimedOut
    } else if pfd.revents & libc::POLLIN != 0 {
        Ready::Input
    } else {
        // POLLHUP, POLLERR or POLLNVAL, with nothing left to read.
        Ready::HungUp
    })
}
