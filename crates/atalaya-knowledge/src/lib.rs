//! Atalaya's knowledge base: documents in, grounded passages out.
//!
//! - [`doc`]: the parsed-document model (plain text + structural blocks with character offsets
//!   and heading paths), shared by every format.
//! - [`parse`]: format parsers (plain text, Markdown, HTML, PDF text layer, DOCX, CSV / JSON
//!   Lines FAQs) on maintained crates.
//! - [`chunk`]: structure-aware, token-budgeted chunking with overlap and sentence boundaries.
//! - [`store`]: the SQLite record of collections, documents and chunks (the indexes derive
//!   from it).
//! - [`service`]: the service functions (collections, ingest, delete, search) that the API and
//!   the CLI share, over an [`service::Embedder`].
//! - [`tasks`]: the durable ingestion queue (tasks and their items, in the same database).
//! - [`index`]: BM25 (tantivy) and dense (exact cosine, HNSW from [`index::ANN_THRESHOLD`]
//!   chunks) indexes with filters, and RRF fusion.
//! - [`postgres`]: the same records, search and task queue in Postgres (pgvector HNSW, full
//!   text, leased tasks), shared by replicas.
//! - [`ann`]: the HNSW graph (usearch), saved and reloaded without a rebuild.
//! - [`rag`]: grounded answers over retrieved hits: the sources prompt, citations, the support
//!   check, extractive answers.

pub mod ann;
pub mod chunk;
pub mod config;
pub mod conformance;
pub mod doc;
mod error;
pub mod index;
pub mod local;
pub mod parse;
pub mod postgres;
pub mod query;
pub mod rag;
pub mod records;
pub mod sentences;
pub mod service;
pub mod store;
pub mod tasks;

pub use error::Error;
