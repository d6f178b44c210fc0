//! Tests of the persistence formats.
