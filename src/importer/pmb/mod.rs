//! PMB bulletin displays → Dublin Core (placeholder, being written).
