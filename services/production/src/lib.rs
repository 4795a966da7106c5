//! Production service.
