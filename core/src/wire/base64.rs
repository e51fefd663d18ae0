//! Streaming base64 decoding of argument strings (`buf-b64`, `input-data`,
//! `password`), as lenient as qemu-ga's (protocol notes 3.0): only
//! `A-Z a-z 0-9 + / =` and LF are allowed; LF is skipped anywhere (Proxmox
//! sends 76-column lines); a final partial quad decodes what it can.

/// Decodes base64 text fed in pieces of any size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decoder {
    quad: [u8; 4],
    /// Characters in the current quad, padding included.
    n: u8,
    /// Data characters in the current quad.
    data: u8,
    padded: bool,
    invalid: bool,
}

/// qemu-ga's text for a character outside the alphabet.
pub const INVALID_TEXT: &str = "Base64 data contains invalid characters";

const INVALID: u8 = 0xFF;
const PAD: u8 = 0xFE;
const SKIP: u8 = 0xFD;

/// Decoded bytes handed to the caller at a time.
const PIECE: usize = 768;

/// Fast path: decodes whole quads of data characters from `text` into
/// `out` until a quad needs the slow path or `out` is full; returns
/// (characters used, bytes made).
fn whole_quads(text: &[u8], out: &mut [u8]) -> (usize, usize) {
    let (mut used, mut made) = (0, 0);
    for (q, o) in text.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let v = [
            TABLE[q[0] as usize],
            TABLE[q[1] as usize],
            TABLE[q[2] as usize],
            TABLE[q[3] as usize],
        ];
        if (v[0] | v[1] | v[2] | v[3]) >= 64 {
            break;
        }
        let w = (v[0] as u32) << 18 | (v[1] as u32) << 12 | (v[2] as u32) << 6 | v[3] as u32;
        o.copy_from_slice(&[(w >> 16) as u8, (w >> 8) as u8, w as u8]);
        used += 4;
        made += 3;
    }
    (used, made)
}

const TABLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t[b'=' as usize] = PAD;
    t[b'\n' as usize] = SKIP;
    t
};

impl Decoder {
    /// A decoder at the start of a value.
    pub const fn new() -> Decoder {
        Decoder {
            quad: [0; 4],
            n: 0,
            data: 0,
            padded: false,
            invalid: false,
        }
    }

    /// Whether a character outside the alphabet was seen.
    pub fn is_invalid(&self) -> bool {
        self.invalid
    }

    /// Decodes `text`, calling `out` with pieces of at most 768 bytes. A
    /// character outside the alphabet ends the output: the bytes of the
    /// quads before it are handed on, nothing after it (in this call or a
    /// later one).
    pub fn feed<E>(
        &mut self,
        text: &[u8],
        out: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut buf = [0u8; PIECE];
        let mut len = 0;
        let mut i = 0;
        while i < text.len() && !self.invalid {
            if self.n == 0 {
                let (used, made) = whole_quads(&text[i..], &mut buf[len..]);
                i += used;
                len += made;
            }
            if len + 3 > buf.len() {
                out(&buf[..len])?;
                len = 0;
                continue;
            }
            let Some(&c) = text.get(i) else { break };
            i += 1;
            if let Some((bytes, n)) = self.char(c) {
                buf[len..len + 3].copy_from_slice(&bytes);
                len += n;
            }
        }
        if len > 0 {
            out(&buf[..len])?;
        }
        Ok(())
    }

    /// Ends the value: decodes a final partial quad.
    pub fn finish<E>(&mut self, out: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let (b, n) = self.flush_quad();
        *self = Decoder {
            invalid: self.invalid,
            ..Decoder::new()
        };
        if n > 0 && !self.invalid {
            out(&b[..n])?;
        }
        Ok(())
    }

    /// Feeds one character; returns decoded bytes when a quad completes.
    fn char(&mut self, c: u8) -> Option<([u8; 3], usize)> {
        match TABLE[c as usize] {
            SKIP => None,
            INVALID => {
                self.invalid = true;
                None
            }
            PAD => {
                self.padded = true;
                self.n += 1;
                (self.n == 4).then(|| self.flush_quad())
            }
            v => {
                if self.padded {
                    // Data after padding starts a new quad (concatenated base64).
                    let _ = self.flush_quad();
                }
                self.quad[self.n as usize] = v;
                self.n += 1;
                self.data += 1;
                (self.n == 4).then(|| self.flush_quad())
            }
        }
    }

    fn flush_quad(&mut self) -> ([u8; 3], usize) {
        let q = self.quad;
        let v = (q[0] as u32) << 18 | (q[1] as u32) << 12 | (q[2] as u32) << 6 | q[3] as u32;
        let produced = match self.data {
            0 | 1 => 0,
            d => d as usize - 1,
        };
        self.quad = [0; 4];
        (self.n, self.data, self.padded) = (0, 0, false);
        ([(v >> 16) as u8, (v >> 8) as u8, v as u8], produced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut d = Decoder::new();
        let mut v = Vec::new();
        let mut push = |b: &[u8]| -> Result<(), ()> {
            v.extend_from_slice(b);
            Ok(())
        };
        for p in pieces {
            let _ = d.feed(p, &mut push);
        }
        let _ = d.finish(&mut push);
        (v, d.is_invalid())
    }

    #[test]
    fn decodes_any_split() {
        assert_eq!(decode(&[b"aGVsbG8="]), (b"hello".to_vec(), false));
        assert_eq!(
            decode(&[b"aG", b"VsbG", b"8", b"="]),
            (b"hello".to_vec(), false)
        );
        assert_eq!(decode(&[b"aGVs\nbG8=\n"]), (b"hello".to_vec(), false));
        assert_eq!(decode(&[b"aGU="]), (b"he".to_vec(), false));
        assert_eq!(decode(&[b""]), (Vec::new(), false));
    }

    #[test]
    fn newlines_inside_a_quad_leave_the_fast_path() {
        assert_eq!(decode(&[b"AAAA\n\nAAAA"]), (vec![0; 6], false));
        assert_eq!(decode(&[b"AAAA\n=AA"]), (vec![0; 4], false));
    }

    #[test]
    fn a_quad_with_two_non_data_characters_leaves_the_fast_path() {
        // Two invalid characters, or padding then a newline, at the end of
        // a quad: the slow path rejects the first and pads the second.
        assert!(decode(&[b"AAAAAB!!"]).1);
        assert_eq!(decode(&[b"AAAAAB=\n"]), (vec![0; 4], false));
        assert!(decode(&[b"AAAA!!AB"]).1);
        // The same bad character at any two places of a quad.
        for (i, j) in [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)] {
            let mut q = *b"QUJD";
            (q[i], q[j]) = (b'!', b'!');
            assert!(decode(&[&q]).1, "{q:?}");
        }
    }

    /// The sizes of the pieces `feed` hands on for `text`.
    fn piece_sizes(text: &[u8]) -> Vec<usize> {
        let mut sizes = Vec::new();
        let _ = Decoder::new().feed(text, &mut |b: &[u8]| -> Result<(), ()> {
            sizes.push(b.len());
            Ok(())
        });
        sizes
    }

    /// `lines` lines of `len` data characters, each ending in LF.
    fn lines(lines: usize, len: usize) -> Vec<u8> {
        let mut line = vec![b'A'; len];
        line.push(b'\n');
        line.repeat(lines)
    }

    #[test]
    fn lines_of_base64_are_handed_on_in_whole_pieces() {
        // MIME-style lines (76 characters and a newline) take the slow path
        // at every line end; the caller still gets PIECE bytes at a time.
        assert_eq!(
            piece_sizes(&lines(30, 76)),
            [PIECE, PIECE, 30 * 57 - 2 * PIECE]
        );
        // 68-character lines: a line ends just 3 bytes short of a piece.
        assert_eq!(piece_sizes(&lines(30, 68)), [PIECE, 30 * 51 - PIECE]);
        // Exactly one piece of text: one call, no empty one after it.
        assert_eq!(piece_sizes(&[b'A'; PIECE / 3 * 4]), [PIECE]);
        // Whole quads: `finish` has nothing to hand on.
        let mut d = Decoder::new();
        let mut calls = 0;
        let mut count = |_: &[u8]| -> Result<(), ()> {
            calls += 1;
            Ok(())
        };
        let _ = d.feed(b"QUJD", &mut count);
        let _ = d.finish(&mut count);
        assert_eq!(calls, 1);
    }

    #[test]
    fn padding_ends_its_quad() {
        // A padded quad is complete at its last `=`: what follows starts a
        // new quad (as when base64 pieces are joined).
        assert_eq!(decode(&[b"AA==AAAA"]), (vec![0; 4], false));
        assert_eq!(decode(&[b"AAA=", b"QUJD"]), (b"\0\0ABC".to_vec(), false));
    }

    #[test]
    fn nothing_after_an_invalid_character_is_handed_on() {
        assert_eq!(decode(&[b"QUJD!RUZH"]), (b"ABC".to_vec(), true));
        assert_eq!(decode(&[b"QUJDRU!ZH", b"QUJD"]), (b"ABC".to_vec(), true));
        assert_eq!(decode(&[b"QU!"]), (Vec::new(), true));
    }

    #[test]
    fn partial_final_quad_decodes_what_it_can() {
        assert_eq!(decode(&[b"aGVsbG8"]), (b"hello".to_vec(), false));
    }

    #[test]
    fn rejects_characters_outside_the_alphabet() {
        assert!(decode(&[b"aGV sbG8="]).1);
        assert!(decode(&[b"aGV\rsbG8="]).1);
        assert!(decode(&[b"aGV-sbG8="]).1);
    }
}
