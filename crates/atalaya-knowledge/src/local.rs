//! The embedded backend of [`KnowledgeRecords`] and [`TaskQueue`]: the SQLite store and the
//! in-process indexes of a [`KnowledgeBase`], called on the blocking pool (SQLite, parsing
//! and the embedding model block).

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    records::{CollectionStats, KnowledgeRecords, NewCollection, TaskQueue},
    service::{Embedder, Hit, KnowledgeBase, SearchParams},
    store::{Collection, DocumentInfo},
    tasks::{NewItem, Task, TaskStatus},
    Error,
};

/// A [`KnowledgeBase`] behind the storage traits.
#[derive(Clone)]
pub struct LocalKnowledge {
    kb: Arc<KnowledgeBase>,
}

impl LocalKnowledge {
    pub fn new(kb: Arc<KnowledgeBase>) -> Self {
        LocalKnowledge { kb }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&KnowledgeBase) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let kb = self.kb.clone();
        tokio::task::spawn_blocking(move || f(&kb))
            .await
            .map_err(|e| Error::Store(format!("knowledge task: {e}")))?
    }
}

fn stats(kb: &KnowledgeBase, c: Collection) -> Result<CollectionStats, Error> {
    let docs = kb.store().documents(c.id)?;
    Ok(CollectionStats {
        documents: docs.len(),
        chunks: docs.iter().map(|d| d.chunks).sum(),
        collection: c,
    })
}

#[async_trait]
impl KnowledgeRecords for LocalKnowledge {
    async fn create_collection(
        &self,
        tenant: &str,
        new: NewCollection,
        embedder: Arc<dyn Embedder>,
    ) -> Result<CollectionStats, Error> {
        let tenant = tenant.to_owned();
        self.blocking(move |kb| {
            let c = kb.create_collection(
                &tenant,
                &new.name,
                embedder.as_ref(),
                new.language.as_deref(),
                new.chunking,
            )?;
            stats(kb, c)
        })
        .await
    }

    async fn collection(&self, tenant: &str, name: &str) -> Result<Collection, Error> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |kb| kb.collection(&tenant, &name)).await
    }

    async fn collection_stats(&self, tenant: &str, name: &str) -> Result<CollectionStats, Error> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |kb| stats(kb, kb.collection(&tenant, &name)?))
            .await
    }

    async fn collections(&self, tenant: &str) -> Result<Vec<CollectionStats>, Error> {
        let tenant = tenant.to_owned();
        self.blocking(move |kb| {
            kb.store()
                .collections(&tenant)?
                .into_iter()
                .map(|c| stats(kb, c))
                .collect()
        })
        .await
    }

    async fn delete_collection(&self, tenant: &str, name: &str) -> Result<(), Error> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |kb| kb.delete_collection(&tenant, &name))
            .await
    }

    async fn documents(&self, c: &Collection) -> Result<Vec<DocumentInfo>, Error> {
        let id = c.id;
        self.blocking(move |kb| kb.store().documents(id)).await
    }

    async fn search(
        &self,
        c: &Collection,
        query: String,
        params: SearchParams,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Vec<Hit>, Error> {
        let c = c.clone();
        self.blocking(move |kb| kb.search(&c, embedder.as_deref(), &query, &params))
            .await
    }

    async fn delete_tenant(&self, tenant: &str) -> Result<usize, Error> {
        let tenant = tenant.to_owned();
        self.blocking(move |kb| kb.delete_tenant(&tenant)).await
    }
}

#[async_trait]
impl TaskQueue for LocalKnowledge {
    async fn enqueue_ingest(&self, c: &Collection, items: Vec<NewItem>) -> Result<Task, Error> {
        let c = c.clone();
        self.blocking(move |kb| kb.enqueue_ingest(&c, &items)).await
    }

    async fn enqueue_delete(&self, c: &Collection, sources: Vec<String>) -> Result<Task, Error> {
        let c = c.clone();
        self.blocking(move |kb| kb.enqueue_delete(&c, &sources))
            .await
    }

    async fn task(&self, tenant: &str, id: i64) -> Result<Task, Error> {
        let tenant = tenant.to_owned();
        self.blocking(move |kb| kb.task(&tenant, id)).await
    }

    async fn tasks(
        &self,
        tenant: &str,
        status: Option<TaskStatus>,
        limit: usize,
    ) -> Result<Vec<Task>, Error> {
        let tenant = tenant.to_owned();
        self.blocking(move |kb| kb.store().tasks(&tenant, status, limit))
            .await
    }

    async fn work_once(&self, embedder: Arc<dyn Embedder>) -> Result<bool, Error> {
        self.blocking(move |kb| kb.work_once(embedder.as_ref()))
            .await
    }
}
