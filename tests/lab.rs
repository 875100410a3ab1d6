//! percept lab.
