//! The knowledge base's storage seams: [`KnowledgeRecords`] (collections, their documents and
//! chunks, and search over them) and [`TaskQueue`] (durable ingest and delete tasks, worked
//! by any worker, each item's outcome recorded in the same transaction as its document).
//!
//! The embedded backend ([`crate::local::LocalKnowledge`]: SQLite and in-process indexes)
//! implements both; a shared backend (Postgres with pgvector) implements the same traits and
//! passes the same suite ([`crate::conformance`]). Callers hold `Arc<dyn ...>` and never
//! know which.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    chunk::ChunkConfig,
    service::{Embedder, Hit, SearchParams},
    store::{Collection, DocumentInfo},
    tasks::{NewItem, Task, TaskStatus},
    Error,
};

/// A collection with its size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionStats {
    pub collection: Collection,
    pub documents: usize,
    pub chunks: i64,
}

/// What a new collection is.
#[derive(Debug, Clone, Default)]
pub struct NewCollection {
    pub name: String,
    /// The documents' default language (ISO 639-1).
    pub language: Option<String>,
    pub chunking: ChunkConfig,
}

/// Collections, documents and chunks, and search over them. Every method is scoped to a
/// tenant: another tenant's collection is not found.
#[async_trait]
pub trait KnowledgeRecords: Send + Sync {
    /// Creates a collection embedded by `embedder` (its model is recorded; the chunk size must
    /// fit its input). A taken name is a conflict, a bad name or chunking invalid.
    async fn create_collection(
        &self,
        tenant: &str,
        new: NewCollection,
        embedder: Arc<dyn Embedder>,
    ) -> Result<CollectionStats, Error>;
    /// The tenant's collection, or not found naming it.
    async fn collection(&self, tenant: &str, name: &str) -> Result<Collection, Error>;
    /// [`KnowledgeRecords::collection`] with its size.
    async fn collection_stats(&self, tenant: &str, name: &str) -> Result<CollectionStats, Error>;
    /// The tenant's collections by name.
    async fn collections(&self, tenant: &str) -> Result<Vec<CollectionStats>, Error>;
    /// Deletes a collection with its documents, chunks and indexes.
    async fn delete_collection(&self, tenant: &str, name: &str) -> Result<(), Error>;
    /// The collection's documents.
    async fn documents(&self, c: &Collection) -> Result<Vec<DocumentInfo>, Error>;
    /// Passages of `c` for `query`: dense, BM25 or both fused, filtered, the preferred
    /// language first. `embedder` may be `None` for BM25 only.
    async fn search(
        &self,
        c: &Collection,
        query: String,
        params: SearchParams,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Vec<Hit>, Error>;
    /// Deletes everything of `tenant`: collections, documents, chunks, indexes and tasks.
    /// Returns the number of collections.
    async fn delete_tenant(&self, tenant: &str) -> Result<usize, Error>;
}

/// Durable tasks. `enqueue_*` return once the task and every byte of its items are stored;
/// a crash afterwards loses nothing, and the work resumes.
#[async_trait]
pub trait TaskQueue: Send + Sync {
    async fn enqueue_ingest(&self, c: &Collection, items: Vec<NewItem>) -> Result<Task, Error>;
    /// Deletions are ordered after every ingestion enqueued before them.
    async fn enqueue_delete(&self, c: &Collection, sources: Vec<String>) -> Result<Task, Error>;
    /// The tenant's task with its items, or not found.
    async fn task(&self, tenant: &str, id: i64) -> Result<Task, Error>;
    /// The tenant's most recent tasks, newest first.
    async fn tasks(
        &self,
        tenant: &str,
        status: Option<TaskStatus>,
        limit: usize,
    ) -> Result<Vec<Task>, Error>;
    /// Works one group of items of the next task; `false` when there was nothing to do.
    /// Each item's outcome is recorded once, with its document.
    async fn work_once(&self, embedder: Arc<dyn Embedder>) -> Result<bool, Error>;
}
