/// Associated data in a canonical, unambiguous encoding: a context label followed by
/// length-prefixed `name=value` fields, so no two different field lists encode alike.
#[derive(Clone, PartialEq, Eq)]
pub struct AssociatedData(Vec<u8>);

impl AssociatedData {
    /// Starts associated data for `context` (for example `"strongroom.token_set.v1"`).
    pub fn new(context: &str) -> Self {
        let mut this = Self(Vec::with_capacity(128));
        this.push(context.as_bytes());
        this
    }

    /// Appends a named field.
    #[must_use]
    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.push(name.as_bytes());
        self.push(value.as_bytes());
        self
    }

    fn push(&mut self, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl std::fmt::Debug for AssociatedData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AssociatedData({} bytes)", self.0.len())
    }
}
