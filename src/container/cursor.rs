//! A bounds-checked reader over a byte slice: every read either succeeds or
//! returns a typed error naming the field; nothing here can panic.

use crate::error::FormatError;

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    context: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], context: &'static str) -> Self {
        Cursor { buf, context }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], FormatError> {
        if n > self.buf.len() {
            return Err(FormatError::malformed(
                field,
                format!(
                    "needs {n} bytes but only {} remain in the {}",
                    self.buf.len(),
                    self.context
                ),
            ));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Like `take`, with the per-field size cap applied first.
    pub(crate) fn take_field(
        &mut self,
        field: &'static str,
        n: usize,
    ) -> Result<&'a [u8], FormatError> {
        if n > super::MAX_FIELD_LEN {
            return Err(FormatError::malformed(
                field,
                format!("length {n} exceeds the limit of {}", super::MAX_FIELD_LEN),
            ));
        }
        self.take(field, n)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, FormatError> {
        match self.take(field, 1)? {
            [b] => Ok(*b),
            _ => Err(FormatError::malformed(field, "short read")),
        }
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, FormatError> {
        match self.take(field, 2)? {
            [a, b] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(FormatError::malformed(field, "short read")),
        }
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, FormatError> {
        match self.take(field, 4)? {
            [a, b, c, d] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => Err(FormatError::malformed(field, "short read")),
        }
    }
}
