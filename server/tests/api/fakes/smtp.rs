//! A fake SMTP server: enough of RFC 5321 for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP,
//! QUIT) on plain TCP, recording every accepted message. Tests script failures: the next
//! message(s) can be answered at RCPT TO with any reply code (451 = try later, 550 = never).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent after DATA (headers and encoded body).
    pub data: String,
}

#[derive(Default)]
struct Shared {
    /// Reply codes for the coming RCPT TO commands, in order; empty means 250.
    rcpt_replies: VecDeque<u16>,
    received: Vec<Received>,
    /// Every RCPT TO seen, accepted or not: attempts, as the server saw them.
    rcpt_attempts: usize,
}

#[derive(Clone)]
pub struct FakeSmtp {
    /// For `SMTP_URL`.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

impl FakeSmtp {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = shared.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, state.clone()));
            }
        });
        FakeSmtp {
            url: format!("smtp://{addr}"),
            shared,
        }
    }

    /// Answers the next RCPT TO with `code` (e.g. 451 or 550) instead of 250.
    pub fn reject_next_rcpt(&self, code: u16) {
        self.shared.lock().unwrap().rcpt_replies.push_back(code);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    pub fn rcpt_attempts(&self) -> usize {
        self.shared.lock().unwrap().rcpt_attempts
    }
}

async fn session(socket: tokio::net::TcpStream, shared: Arc<Mutex<Shared>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    if write
        .write_all(b"220 fake.smtp ESMTP ready\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let answer: String = match verb.as_str() {
            "EHLO" => "250-fake.smtp\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 OK".into(),
            "HELO" => "250 fake.smtp".into(),
            "MAIL" => {
                from = address(&command);
                to.clear();
                "250 2.1.0 OK".into()
            }
            "RCPT" => {
                let code = {
                    let mut s = shared.lock().unwrap();
                    s.rcpt_attempts += 1;
                    s.rcpt_replies.pop_front().unwrap_or(250)
                };
                match code {
                    250 => {
                        to.push(address(&command));
                        "250 2.1.5 OK".into()
                    }
                    c if c < 500 => format!("{c} 4.7.1 Try again later"),
                    c => format!("{c} 5.1.1 No such user here"),
                }
            }
            "DATA" => {
                if write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(&line);
                }
                shared.lock().unwrap().received.push(Received {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                });
                "250 2.0.0 Queued".into()
            }
            "RSET" => {
                to.clear();
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                return;
            }
            _ => "502 5.5.2 Command not recognised".into(),
        };
        if write
            .write_all(format!("{answer}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// `MAIL FROM:<a@b>` → `a@b`.
fn address(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(addr, _)| addr.to_string())
        .unwrap_or_default()
}
