//! Event framing of upstream streams: Server-Sent Events
//! (`text/event-stream`) and newline-delimited JSON, read chunk by chunk.

/// What one line (SSE: one event) of a stream gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// An event's data: one JSON value.
    Data(String),
    /// An SSE event `id:`, sent back as `Last-Event-ID` on reconnect.
    Id(String),
    /// An SSE `retry:` (milliseconds before reconnecting).
    Retry(u64),
    /// A comment or an empty line: the stream is alive.
    Heartbeat,
}

/// Which framing the upstream speaks, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Sse,
    /// `application/x-ndjson`, `application/jsonl` or anything else: one
    /// JSON value per line.
    Lines,
}

impl Framing {
    pub(crate) fn of(content_type: Option<&str>) -> Framing {
        match content_type {
            Some(ct)
                if ct
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("text/event-stream") =>
            {
                Framing::Sse
            }
            _ => Framing::Lines,
        }
    }
}

/// A line that grew past this many bytes without ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong(pub(crate) usize);

/// Splits a byte stream into frames; holds at most `limit` bytes of an
/// unfinished line or event.
pub(crate) struct Parser {
    framing: Framing,
    limit: usize,
    line: Vec<u8>,
    /// The SSE event being read: its `data:` lines joined by `\n`.
    data: Option<String>,
    /// The last byte was `\r`: a following `\n` belongs to that line end.
    after_cr: bool,
}

impl Parser {
    pub(crate) fn new(framing: Framing, limit: usize) -> Parser {
        Parser {
            framing,
            limit,
            line: Vec::new(),
            data: None,
            after_cr: false,
        }
    }

    /// The frames `chunk` completes, in order.
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), TooLong> {
        for &byte in chunk {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_end(&line, out);
                }
                _ => {
                    self.line.push(byte);
                    let held = self.line.len() + self.data.as_ref().map_or(0, String::len);
                    if held > self.limit {
                        return Err(TooLong(self.limit));
                    }
                }
            }
        }
        Ok(())
    }

    fn line_end(&mut self, line: &[u8], out: &mut Vec<Frame>) {
        let text = String::from_utf8_lossy(line);
        match self.framing {
            Framing::Lines => {
                if text.trim().is_empty() {
                    out.push(Frame::Heartbeat);
                } else {
                    out.push(Frame::Data(text.into_owned()));
                }
            }
            Framing::Sse => {
                if text.is_empty() {
                    // The blank line ends an event.
                    match self.data.take() {
                        Some(data) => out.push(Frame::Data(data)),
                        None => out.push(Frame::Heartbeat),
                    }
                    return;
                }
                if text.starts_with(':') {
                    out.push(Frame::Heartbeat);
                    return;
                }
                let (field, value) = match text.split_once(':') {
                    Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                    None => (text.as_ref(), ""),
                };
                match field {
                    "data" => match &mut self.data {
                        Some(data) => {
                            data.push('\n');
                            data.push_str(value);
                        }
                        None => self.data = Some(value.to_owned()),
                    },
                    "id" if !value.contains('\0') => out.push(Frame::Id(value.to_owned())),
                    "retry" => {
                        if let Ok(ms) = value.parse() {
                            out.push(Frame::Retry(ms));
                        }
                    }
                    // `event:` names and unknown fields carry nothing a
                    // subscription reads.
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framing: Framing, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut parser = Parser::new(framing, 1024);
        let mut out = Vec::new();
        for chunk in chunks {
            parser.push(chunk, &mut out).expect("within the limit");
        }
        out
    }

    #[test]
    fn sse_events_join_data_lines_across_chunks_and_line_ends() {
        let out = frames(
            Framing::Sse,
            &[
                b": hi\n\nid: 7\r\nevent: stock\r\nda",
                b"ta: {\"a\":\r\ndata: 1}\r\r\n",
            ],
        );
        assert_eq!(
            out,
            vec![
                Frame::Heartbeat,
                Frame::Heartbeat,
                Frame::Id("7".into()),
                Frame::Data("{\"a\":\n1}".into()),
            ]
        );
    }

    #[test]
    fn ndjson_is_one_value_per_line() {
        let out = frames(Framing::Lines, &[b"{\"a\":1}\n{\"a\"", b":2}\n\n"]);
        assert_eq!(
            out,
            vec![
                Frame::Data("{\"a\":1}".into()),
                Frame::Data("{\"a\":2}".into()),
                Frame::Heartbeat,
            ]
        );
    }

    #[test]
    fn a_line_without_end_is_bounded() {
        let mut parser = Parser::new(Framing::Sse, 8);
        let mut out = Vec::new();
        assert_eq!(parser.push(b"data: 0123456789", &mut out), Err(TooLong(8)));
    }

    #[test]
    fn framing_follows_the_content_type() {
        assert_eq!(
            Framing::of(Some("text/event-stream; charset=utf-8")),
            Framing::Sse
        );
        assert_eq!(Framing::of(Some("application/x-ndjson")), Framing::Lines);
        assert_eq!(Framing::of(None), Framing::Lines);
    }
}
