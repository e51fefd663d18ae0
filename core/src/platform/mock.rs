//! Mock platform (filled in below).
