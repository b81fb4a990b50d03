//! Retrieval indexes of one collection: BM25 keyword search on tantivy with language-aware
//! analysis (en/es/pt stemming and stop words, accent folding), dense vectors with exact
//! cosine search, metadata filters applied inside both, and reciprocal-rank fusion.
//!
//! Access rule (one place): a chunk without access labels is visible to every caller of its
//! collection's tenant; a chunk with labels only to callers holding at least one of them.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Mutex, RwLock},
};

use serde::{Deserialize, Serialize};
use tantivy::{
    collector::TopDocs,
    directory::MmapDirectory,
    query::{BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery},
    schema::{
        Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value as _, FAST,
        INDEXED, STORED, STRING,
    },
    tokenizer::{
        AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
        StopWordFilter, TextAnalyzer,
    },
    Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term,
};

use crate::{
    ann::{Ann, AnnParams},
    Error,
};

/// Languages with their own analysis; everything else is lower-cased and accent-folded only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Es,
    Pt,
    Other,
}

impl Lang {
    pub fn from_code(code: &str) -> Lang {
        match code.to_ascii_lowercase().get(..2) {
            Some("en") => Lang::En,
            Some("es") => Lang::Es,
            Some("pt") => Lang::Pt,
            _ => Lang::Other,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Pt => "pt",
            Lang::Other => "other",
        }
    }

    const ALL: [Lang; 4] = [Lang::En, Lang::Es, Lang::Pt, Lang::Other];
}

/// What filters look at, per chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkMeta {
    pub lang: Option<Lang>,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
}

/// A chunk as the indexes take it: the text to match (the heading path is part of it) and
/// its unit-length embedding.
#[derive(Debug, Clone, Copy)]
pub struct IndexedChunk<'a> {
    pub id: u64,
    pub text: &'a str,
    pub meta: &'a ChunkMeta,
    pub vector: &'a [f32],
}

/// Restrictions on what a search may return.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Filter {
    /// Chunks having at least one of these tags (empty: no restriction).
    pub tags: Vec<String>,
    /// Chunks in one of these languages (empty: no restriction).
    pub languages: Vec<Lang>,
    /// The caller's access labels (see the module's access rule).
    #[serde(skip)]
    pub labels: Vec<String>,
}

impl Filter {
    pub fn allows(&self, m: &ChunkMeta) -> bool {
        (self.tags.is_empty() || m.tags.iter().any(|t| self.tags.contains(t)))
            && (self.languages.is_empty() || m.lang.is_some_and(|l| self.languages.contains(&l)))
            && (m.labels.is_empty() || m.labels.iter().any(|l| self.labels.contains(l)))
    }
}

/// Marks label-free chunks in the keyword index, so the access rule is one term query.
const PUBLIC: &str = "\u{1}public";

struct Fields {
    id: Field,
    bodies: [(Lang, Field); 4],
    tags: Field,
    labels: Field,
    lang: Field,
}

/// BM25 over one collection's chunks.
pub struct KeywordIndex {
    index: Index,
    reader: IndexReader,
    /// Created on the first write: tantivy's writer holds a lock on the directory, which a
    /// search-only user (another process's `kb search`) must not take.
    writer: Mutex<Option<IndexWriter>>,
    fields: Fields,
}

fn index_err(e: impl std::fmt::Display) -> Error {
    Error::index(e.to_string())
}

fn analyzer(lang: Lang) -> TextAnalyzer {
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    let language = match lang {
        Lang::En => Language::English,
        Lang::Es => Language::Spanish,
        Lang::Pt => Language::Portuguese,
        Lang::Other => return base.filter(AsciiFoldingFilter).build(),
    };
    match StopWordFilter::new(language) {
        Some(stop) => base
            .filter(stop)
            .filter(AsciiFoldingFilter)
            .filter(Stemmer::new(language))
            .build(),
        None => base
            .filter(AsciiFoldingFilter)
            .filter(Stemmer::new(language))
            .build(),
    }
}

fn analyzer_name(lang: Lang) -> String {
    format!("atalaya_{}", lang.code())
}

impl KeywordIndex {
    /// Opens the index persisted in `dir` (created if empty), or an in-memory one.
    pub fn open(dir: Option<&Path>) -> Result<KeywordIndex, Error> {
        let mut sb = Schema::builder();
        let id = sb.add_u64_field("id", INDEXED | STORED | FAST);
        let bodies = Lang::ALL.map(|lang| {
            let opts = TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(&analyzer_name(lang))
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            );
            (
                lang,
                sb.add_text_field(&format!("body_{}", lang.code()), opts),
            )
        });
        let tags = sb.add_text_field("tags", STRING);
        let labels = sb.add_text_field("labels", STRING);
        let lang = sb.add_text_field("lang", STRING);
        let schema = sb.build();
        let index = match dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(index_err)?;
                let mmap = MmapDirectory::open(d).map_err(index_err)?;
                Index::open_or_create(mmap, schema).map_err(index_err)?
            }
            None => Index::create_in_ram(schema),
        };
        for l in Lang::ALL {
            index.tokenizers().register(&analyzer_name(l), analyzer(l));
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(index_err)?;
        Ok(KeywordIndex {
            index,
            reader,
            writer: Mutex::new(None),
            fields: Fields {
                id,
                bodies,
                tags,
                labels,
                lang,
            },
        })
    }

    /// Runs `f` with the index writer, creating it on first use.
    fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut IndexWriter) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| Error::Index("the index writer was poisoned".into()))?;
        if guard.is_none() {
            let w = self.index.writer(32 * 1024 * 1024).map_err(|e| {
                Error::Index(format!(
                    "cannot open the index for writing (is another process ingesting into this collection?): {e}"
                ))
            })?;
            *guard = Some(w);
        }
        match guard.as_mut() {
            Some(w) => f(w),
            None => Err(Error::Index("no index writer".into())),
        }
    }

    /// Adds or replaces chunks (by id). Visible after [`KeywordIndex::commit`].
    pub fn upsert(&self, chunks: &[IndexedChunk<'_>]) -> Result<(), Error> {
        self.with_writer(|w| self.upsert_with(w, chunks))
    }

    fn upsert_with(&self, w: &mut IndexWriter, chunks: &[IndexedChunk<'_>]) -> Result<(), Error> {
        let f = &self.fields;
        for c in chunks {
            w.delete_term(Term::from_field_u64(f.id, c.id));
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.id, c.id);
            let lang = c.meta.lang.unwrap_or(Lang::Other);
            if let Some((_, field)) = f.bodies.iter().find(|(l, _)| *l == lang) {
                doc.add_text(*field, c.text);
            }
            doc.add_text(f.lang, lang.code());
            for t in &c.meta.tags {
                doc.add_text(f.tags, t);
            }
            if c.meta.labels.is_empty() {
                doc.add_text(f.labels, PUBLIC);
            }
            for l in &c.meta.labels {
                doc.add_text(f.labels, l);
            }
            w.add_document(doc).map_err(index_err)?;
        }
        Ok(())
    }

    pub fn delete(&self, ids: &[u64]) -> Result<(), Error> {
        self.with_writer(|w| {
            for &id in ids {
                w.delete_term(Term::from_field_u64(self.fields.id, id));
            }
            Ok(())
        })
    }

    /// Makes every change so far durable and searchable.
    pub fn commit(&self) -> Result<(), Error> {
        self.with_writer(|w| w.commit().map(drop).map_err(index_err))?;
        self.reader.reload().map_err(index_err)
    }

    /// Rewrites the segments that hold deleted chunks, then removes the old segment files:
    /// tantivy only marks deletions, so a deleted document's text would otherwise stay on disk
    /// until merges happened to reach it.
    pub fn purge_deleted(&self) -> Result<(), Error> {
        self.with_writer(|w| {
            let stale: Vec<tantivy::index::SegmentId> = w
                .index()
                .searchable_segment_metas()
                .map_err(index_err)?
                .iter()
                .filter(|m| m.num_deleted_docs() > 0)
                .map(tantivy::index::SegmentMeta::id)
                .collect();
            if stale.is_empty() {
                return Ok(());
            }
            match w.merge(&stale).wait() {
                Ok(_) => {}
                // The merge policy's own merge took (some of) these segments first: that merge
                // drops the deleted chunks too.
                Err(tantivy::TantivyError::InvalidArgument(_)) => {}
                Err(e) => return Err(index_err(e)),
            }
            w.garbage_collect_files().wait().map_err(index_err)?;
            Ok(())
        })?;
        self.reader.reload().map_err(index_err)
    }

    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The ids of every chunk in the index (to check it against the store).
    pub fn ids(&self) -> Result<std::collections::HashSet<u64>, Error> {
        let searcher = self.reader.searcher();
        let mut out = std::collections::HashSet::new();
        for seg in searcher.segment_readers() {
            let col = seg.fast_fields().u64("id").map_err(index_err)?;
            let alive = seg.alive_bitset();
            for doc in 0..seg.max_doc() {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    out.extend(col.values_for_doc(doc));
                }
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` best chunks for `query` that `filter` allows, best first, with BM25 scores.
    /// Query syntax errors never fail a search: the query is read leniently.
    pub fn search(&self, query: &str, k: usize, filter: &Filter) -> Result<Vec<(u64, f32)>, Error> {
        let f = &self.fields;
        let fields: Vec<Field> = f.bodies.iter().map(|(_, field)| *field).collect();
        // Terms are OR-ed (the parser's default): BM25 ranks partial matches.
        let parser = QueryParser::for_index(&self.index, fields);
        let (text_query, _errors) = parser.parse_query_lenient(query);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text_query)];
        let any = |field: Field, values: &mut dyn Iterator<Item = String>| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                values
                    .map(|v| {
                        let q: Box<dyn Query> = Box::new(TermQuery::new(
                            Term::from_field_text(field, &v),
                            IndexRecordOption::Basic,
                        ));
                        (Occur::Should, q)
                    })
                    .collect(),
            ))
        };
        if !filter.tags.is_empty() {
            clauses.push((Occur::Must, any(f.tags, &mut filter.tags.iter().cloned())));
        }
        if !filter.languages.is_empty() {
            let mut langs = filter.languages.iter().map(|l| l.code().to_owned());
            clauses.push((Occur::Must, any(f.lang, &mut langs)));
        }
        let mut labels = std::iter::once(PUBLIC.to_owned()).chain(filter.labels.iter().cloned());
        clauses.push((Occur::Must, any(f.labels, &mut labels)));
        // Filters restrict without scoring: only the text query ranks.
        let clauses: Vec<(Occur, Box<dyn Query>)> = clauses
            .into_iter()
            .enumerate()
            .map(|(i, (occur, q))| {
                if i == 0 {
                    (occur, q)
                } else {
                    (
                        occur,
                        Box::new(ConstScoreQuery::new(q, 0.0)) as Box<dyn Query>,
                    )
                }
            })
            .collect();
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(k.max(1)).order_by_score())
            .map_err(index_err)?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr).map_err(index_err)?;
            let id = doc.get_first(f.id).and_then(|v| v.as_u64());
            if let Some(id) = id {
                out.push((id, score));
            }
        }
        Ok(out)
    }
}

/// A collection's dense index. The embedded default is [`VectorIndex`] (in memory, exact or
/// HNSW, saved beside the database); the service only uses it through this trait, so an
/// external engine (pgvector, when collections outgrow one machine) can take its place.
pub trait DenseIndex: Send + Sync {
    /// Adds or replaces chunks' vectors (unit length, all of one width).
    fn upsert(&self, chunks: &[IndexedChunk<'_>]) -> Result<(), Error>;
    fn delete(&self, ids: &[u64]) -> Result<(), Error>;
    /// The `k` chunks nearest to `query` that `filter` allows, best first, with cosines.
    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<(u64, f32)>, Error>;
    /// Every chunk id held (for the consistency check against the store).
    fn ids(&self) -> Result<std::collections::HashSet<u64>, Error>;
    /// The vectors' width (0 while empty).
    fn dims(&self) -> usize;
    /// Whether searches are approximate.
    fn is_approximate(&self) -> bool;
    /// Persists what would be slow to rebuild; `Ok(false)` when there was nothing to save.
    fn save(&self, path: &Path) -> Result<bool, Error>;
}

impl DenseIndex for VectorIndex {
    fn upsert(&self, chunks: &[IndexedChunk<'_>]) -> Result<(), Error> {
        VectorIndex::upsert(self, chunks)
    }
    fn delete(&self, ids: &[u64]) -> Result<(), Error> {
        VectorIndex::delete(self, ids)
    }
    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<(u64, f32)>, Error> {
        VectorIndex::search(self, query, k, filter)
    }
    fn ids(&self) -> Result<std::collections::HashSet<u64>, Error> {
        VectorIndex::ids(self)
    }
    fn dims(&self) -> usize {
        VectorIndex::dims(self)
    }
    fn is_approximate(&self) -> bool {
        VectorIndex::is_approximate(self)
    }
    fn save(&self, path: &Path) -> Result<bool, Error> {
        VectorIndex::save(self, path)
    }
}

/// Collections below this many chunks are searched exactly; from it on, through HNSW.
pub const ANN_THRESHOLD: usize = 20_000;
/// Candidates taken from the (quantized) graph per result, re-scored on full precision.
const OVERSAMPLE: usize = 2;
/// The fewest candidates taken from the graph (small `k`s get a wider net: re-scoring a few
/// more vectors costs microseconds).
const MIN_POOL: usize = 10;

/// Unit-length vectors with cosine search: exact (brute force) below a size threshold, an
/// HNSW graph ([`Ann`]) from it on. Filters apply during the graph walk; a filter that lets
/// few chunks through is served exactly over those chunks instead (as Qdrant plans it), where
/// a graph walk would miss them.
pub struct VectorIndex {
    inner: RwLock<Vectors>,
    threshold: usize,
    params: AnnParams,
}

impl Default for VectorIndex {
    fn default() -> Self {
        VectorIndex::with_ann(ANN_THRESHOLD, AnnParams::default())
    }
}

#[derive(Default)]
struct Vectors {
    dims: usize,
    ids: Vec<u64>,
    data: Vec<f32>,
    meta: Vec<ChunkMeta>,
    pos: HashMap<u64, usize>,
    /// Chunks with access labels (when none has any, the label rule lets every chunk pass).
    labelled: usize,
    ann: Option<Ann>,
}

impl Vectors {
    fn fill(&mut self, chunks: &[IndexedChunk<'_>]) -> Result<(), Error> {
        for c in chunks {
            if self.dims == 0 {
                self.dims = c.vector.len();
            }
            if c.vector.len() != self.dims || self.dims == 0 {
                return Err(Error::Index(format!(
                    "chunk {} has {} dimensions, the collection {}",
                    c.id,
                    c.vector.len(),
                    self.dims
                )));
            }
            let dims = self.dims;
            let labelled = !c.meta.labels.is_empty();
            match self.pos.get(&c.id).copied() {
                Some(p) => {
                    self.data[p * dims..(p + 1) * dims].copy_from_slice(c.vector);
                    self.labelled -= usize::from(!self.meta[p].labels.is_empty());
                    self.meta[p] = c.meta.clone();
                }
                None => {
                    let p = self.ids.len();
                    self.ids.push(c.id);
                    self.data.extend_from_slice(c.vector);
                    self.meta.push(c.meta.clone());
                    self.pos.insert(c.id, p);
                }
            }
            self.labelled += usize::from(labelled);
        }
        Ok(())
    }

    fn row(&self, id: u64) -> Option<&[f32]> {
        let p = *self.pos.get(&id)?;
        self.data.get(p * self.dims..(p + 1) * self.dims)
    }

    fn build_ann(&mut self, params: AnnParams) -> Result<(), Error> {
        let ann = Ann::new(self.dims, params)?;
        let items: Vec<(u64, &[f32])> = self
            .ids
            .iter()
            .zip(self.data.chunks_exact(self.dims))
            .map(|(id, v)| (*id, v))
            .collect();
        ann.add(&items, build_threads())?;
        self.ann = Some(ann);
        Ok(())
    }
}

/// Threads for building a graph: the machine's cores.
fn build_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl VectorIndex {
    pub fn new() -> VectorIndex {
        VectorIndex::default()
    }

    /// A vector index that switches to HNSW at `threshold` vectors.
    pub fn with_ann(threshold: usize, params: AnnParams) -> VectorIndex {
        VectorIndex {
            inner: RwLock::new(Vectors::default()),
            threshold,
            params,
        }
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Vectors>, Error> {
        self.inner
            .read()
            .map_err(|_| Error::Index("the vector index was poisoned".into()))
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Vectors>, Error> {
        self.inner
            .write()
            .map_err(|_| Error::Index("the vector index was poisoned".into()))
    }

    pub fn upsert(&self, chunks: &[IndexedChunk<'_>]) -> Result<(), Error> {
        let mut v = self.write()?;
        v.fill(chunks)?;
        if let Some(ann) = &v.ann {
            let items: Vec<(u64, &[f32])> = chunks.iter().map(|c| (c.id, c.vector)).collect();
            ann.add(&items, 1)?;
        } else if v.ids.len() >= self.threshold {
            v.build_ann(self.params)?;
        }
        Ok(())
    }

    /// Loads a collection's vectors at start-up. With a graph saved earlier (and the keys it
    /// held then), the graph is reused and only the difference is applied: chunks written
    /// or deleted since the save. Otherwise a large collection's graph is built.
    pub fn load(
        &self,
        chunks: &[IndexedChunk<'_>],
        saved: Option<(Ann, std::collections::HashSet<u64>)>,
    ) -> Result<(), Error> {
        let mut v = self.write()?;
        v.fill(chunks)?;
        if v.ids.len() < self.threshold {
            return Ok(());
        }
        match saved {
            Some((ann, keys)) if ann.params() == self.params => {
                let gone: Vec<u64> = keys
                    .iter()
                    .filter(|k| !v.pos.contains_key(k))
                    .copied()
                    .collect();
                ann.remove(&gone)?;
                let missing: Vec<(u64, &[f32])> = v
                    .ids
                    .iter()
                    .filter(|id| !keys.contains(id))
                    .filter_map(|id| v.row(*id).map(|r| (*id, r)))
                    .collect();
                ann.add(&missing, build_threads())?;
                v.ann = Some(ann);
                Ok(())
            }
            _ => v.build_ann(self.params),
        }
    }

    /// Saves the graph (when there is one and it changed) to `path`.
    pub fn save(&self, path: &Path) -> Result<bool, Error> {
        let v = self.read()?;
        match &v.ann {
            Some(ann) if ann.is_dirty() => {
                ann.save(path, &v.ids)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether searches go through the HNSW graph.
    pub fn is_approximate(&self) -> bool {
        self.read().map(|v| v.ann.is_some()).unwrap_or(false)
    }

    pub fn params(&self) -> AnnParams {
        self.params
    }

    pub fn delete(&self, ids: &[u64]) -> Result<(), Error> {
        let mut v = self.write()?;
        let dims = v.dims;
        for id in ids {
            let Some(p) = v.pos.remove(id) else {
                continue;
            };
            v.labelled -= usize::from(!v.meta[p].labels.is_empty());
            let last = v.ids.len() - 1;
            v.ids.swap_remove(p);
            v.meta.swap_remove(p);
            if p != last {
                let (head, tail) = v.data.split_at_mut(last * dims);
                head[p * dims..(p + 1) * dims].copy_from_slice(&tail[..dims]);
                let moved = v.ids[p];
                v.pos.insert(moved, p);
            }
            v.data.truncate(last * dims);
        }
        if let Some(ann) = &v.ann {
            ann.remove(ids)?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.read().map(|v| v.ids.len()).unwrap_or(0)
    }

    /// The ids of every stored vector.
    pub fn ids(&self) -> Result<std::collections::HashSet<u64>, Error> {
        let v = self.read()?;
        if let Some(ann) = &v.ann {
            // The graph must hold exactly the same chunks.
            if ann.len() != v.ids.len() || v.ids.iter().any(|id| !ann.contains(*id)) {
                return Ok(std::collections::HashSet::new());
            }
        }
        Ok(v.ids.iter().copied().collect())
    }

    /// The width of the stored vectors (0 while empty).
    pub fn dims(&self) -> usize {
        self.read().map(|v| v.dims).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` nearest chunks to `query` (unit length) that `filter` allows, best first, with
    /// cosine similarities.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<(u64, f32)>, Error> {
        let v = self.read()?;
        if v.ids.is_empty() {
            return Ok(Vec::new());
        }
        if query.len() != v.dims {
            return Err(Error::Index(format!(
                "the query has {} dimensions, the collection {}",
                query.len(),
                v.dims
            )));
        }
        if let Some(ann) = &v.ann {
            let open = filter.tags.is_empty() && filter.languages.is_empty() && v.labelled == 0;
            let pool = (k * OVERSAMPLE).max(MIN_POOL);
            let candidates = if open {
                Some(ann.search(query, pool, None)?)
            } else {
                // A selective filter is answered exactly over the chunks it allows.
                let allowed = v.meta.iter().filter(|m| filter.allows(m)).count();
                if allowed * 10 >= v.ids.len() && allowed > k * 20 {
                    let allow =
                        |key: u64| v.pos.get(&key).is_some_and(|&p| filter.allows(&v.meta[p]));
                    Some(ann.search(query, pool, Some(&allow))?)
                } else {
                    None
                }
            };
            if let Some(c) = candidates {
                // The graph's distances are on quantized vectors: re-score on the originals.
                let mut scored: Vec<(u64, f32)> = c
                    .into_iter()
                    .filter_map(|(id, _)| v.row(id).map(|r| (id, dot(r, query))))
                    .collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                scored.truncate(k);
                return Ok(scored);
            }
        }
        let mut scored: Vec<(u64, f32)> = v
            .data
            .chunks_exact(v.dims)
            .enumerate()
            .filter(|(p, _)| filter.allows(&v.meta[*p]))
            .map(|(p, row)| (v.ids[p], dot(row, query)))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(scored)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four accumulators let the compiler vectorise without reassociating one sum.
    let mut acc = [0f32; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// Reciprocal-rank fusion: each ranked list contributes `weight / (k0 + rank)` (rank from 1)
/// to a chunk's score; the best `k` fused chunks, best first.
pub fn rrf(lists: &[(&[(u64, f32)], f32)], k0: f32, k: usize) -> Vec<(u64, f32)> {
    let mut fused: HashMap<u64, f32> = HashMap::new();
    for (list, weight) in lists {
        for (rank, (id, _)) in list.iter().enumerate() {
            *fused.entry(*id).or_default() += weight / (k0 + rank as f32 + 1.0);
        }
    }
    let mut out: Vec<(u64, f32)> = fused.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(k);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn meta(lang: Lang, tags: &[&str], labels: &[&str]) -> ChunkMeta {
        ChunkMeta {
            lang: Some(lang),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn bm25_is_language_aware_and_filtered() {
        let idx = KeywordIndex::open(None).unwrap();
        let m_es = meta(Lang::Es, &["billing"], &[]);
        let m_pt = meta(Lang::Pt, &["shipping"], &[]);
        let m_en = meta(Lang::En, &["billing"], &["staff"]);
        let v = [1.0f32];
        idx.upsert(&[
            IndexedChunk {
                id: 1,
                text: "Las devoluciones se reembolsan en cinco días.",
                meta: &m_es,
                vector: &v,
            },
            IndexedChunk {
                id: 2,
                text: "O código de rastreamento chega por e-mail.",
                meta: &m_pt,
                vector: &v,
            },
            IndexedChunk {
                id: 3,
                text: "Refunds are processed by the billing team.",
                meta: &m_en,
                vector: &v,
            },
        ])
        .unwrap();
        idx.commit().unwrap();
        assert_eq!(idx.len(), 3);
        let staff = Filter {
            labels: vec!["staff".into()],
            ..Filter::default()
        };
        // Stemming and accent folding: "devolución" (singular, accented) finds "devoluciones".
        let hits = idx.search("devolución", 5, &staff).unwrap();
        assert_eq!(hits.first().map(|h| h.0), Some(1), "{hits:?}");
        let hits = idx.search("codigo rastreamento", 5, &staff).unwrap();
        assert_eq!(hits.first().map(|h| h.0), Some(2), "{hits:?}");
        let hits = idx.search("refund", 5, &staff).unwrap();
        assert_eq!(hits.first().map(|h| h.0), Some(3), "{hits:?}");
        // A caller without the label never sees the labelled chunk.
        assert!(idx
            .search("refund", 5, &Filter::default())
            .unwrap()
            .is_empty());
        // Tag and language filters.
        let shipping = Filter {
            tags: vec!["shipping".into()],
            labels: vec!["staff".into()],
            ..Filter::default()
        };
        assert!(idx.search("devolución", 5, &shipping).unwrap().is_empty());
        let english = Filter {
            languages: vec![Lang::En],
            labels: vec!["staff".into()],
            ..Filter::default()
        };
        let hits = idx.search("refunds devoluciones", 5, &english).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [3]);
        // Odd query syntax does not fail.
        assert!(idx.search("\"unbalanced AND (", 5, &staff).is_ok());
        // Replacing and deleting.
        idx.upsert(&[IndexedChunk {
            id: 1,
            text: "Nada que ver.",
            meta: &m_es,
            vector: &v,
        }])
        .unwrap();
        idx.delete(&[2]).unwrap();
        idx.commit().unwrap();
        assert_eq!(idx.len(), 2);
        assert!(idx.search("devolución", 5, &staff).unwrap().is_empty());
        assert!(idx.search("rastreamento", 5, &staff).unwrap().is_empty());
    }

    #[test]
    fn keyword_index_persists() {
        let dir = tempfile::tempdir().unwrap();
        let m = meta(Lang::En, &[], &[]);
        {
            let idx = KeywordIndex::open(Some(dir.path())).unwrap();
            idx.upsert(&[IndexedChunk {
                id: 7,
                text: "warranty covers two years",
                meta: &m,
                vector: &[1.0],
            }])
            .unwrap();
            idx.commit().unwrap();
        }
        let idx = KeywordIndex::open(Some(dir.path())).unwrap();
        let hits = idx.search("warranty", 3, &Filter::default()).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn exact_vector_search_with_filters_updates_and_deletes() {
        let idx = VectorIndex::new();
        let a = meta(Lang::En, &["x"], &[]);
        let b = meta(Lang::Es, &["y"], &["vip"]);
        let vs: Vec<Vec<f32>> = [
            [1.0, 0.0, 0.0, 0.0, 0.1],
            [0.9, 0.1, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0, 0.0],
        ]
        .iter()
        .map(|v| unit(v))
        .collect();
        idx.upsert(&[
            IndexedChunk {
                id: 10,
                text: "",
                meta: &a,
                vector: &vs[0],
            },
            IndexedChunk {
                id: 11,
                text: "",
                meta: &b,
                vector: &vs[1],
            },
            IndexedChunk {
                id: 12,
                text: "",
                meta: &a,
                vector: &vs[2],
            },
        ])
        .unwrap();
        let q = unit(&[1.0, 0.05, 0.0, 0.0, 0.0]);
        let vip = Filter {
            labels: vec!["vip".into()],
            ..Filter::default()
        };
        let hits = idx.search(&q, 2, &vip).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [11, 10]);
        // Without the label, chunk 11 is invisible.
        let hits = idx.search(&q, 3, &Filter::default()).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [10, 12]);
        let tagged = Filter {
            tags: vec!["x".into()],
            labels: vec!["vip".into()],
            ..Filter::default()
        };
        assert_eq!(idx.search(&q, 3, &tagged).unwrap().len(), 2);
        // Delete moves the last row into the hole; ids still map to their vectors.
        idx.delete(&[10]).unwrap();
        let hits = idx.search(&q, 3, &vip).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [11, 12]);
        idx.upsert(&[IndexedChunk {
            id: 12,
            text: "",
            meta: &a,
            vector: &q,
        }])
        .unwrap();
        let hits = idx.search(&q, 1, &vip).unwrap();
        assert_eq!(hits[0].0, 12);
        assert!((hits[0].1 - 1.0).abs() < 1e-5);
        assert!(idx.search(&[1.0], 1, &vip).is_err());
    }

    #[test]
    fn rrf_rewards_agreement() {
        let dense = [(1, 0.9), (2, 0.8), (3, 0.7)];
        let bm25 = [(3, 12.0), (1, 9.0), (4, 5.0)];
        let fused = rrf(&[(&dense, 1.0), (&bm25, 1.0)], 60.0, 3);
        assert_eq!(fused.iter().map(|f| f.0).collect::<Vec<_>>(), [1, 3, 2]);
        // Weights shift the balance.
        let fused = rrf(&[(&dense, 0.1), (&bm25, 1.0)], 60.0, 2);
        assert_eq!(fused.iter().map(|f| f.0).collect::<Vec<_>>(), [3, 1]);
    }

    #[test]
    fn large_collections_switch_to_hnsw_and_reload_saved_graphs() {
        let dims = 24;
        let en = meta(Lang::En, &["a"], &[]);
        let es = meta(Lang::Es, &["b"], &[]);
        let vip = meta(Lang::En, &["a"], &["vip"]);
        let vectors: Vec<Vec<f32>> = (0..600).map(|i| crate::ann::tests::unit(i, dims)).collect();
        let chunk = |i: usize| IndexedChunk {
            id: i as u64 + 1,
            text: "",
            meta: if i % 100 == 7 {
                &vip
            } else if i.is_multiple_of(2) {
                &en
            } else {
                &es
            },
            vector: &vectors[i],
        };
        let params = AnnParams::default();
        let idx = VectorIndex::with_ann(300, params);
        let first: Vec<_> = (0..299).map(chunk).collect();
        idx.upsert(&first).unwrap();
        assert!(!idx.is_approximate());
        let rest: Vec<_> = (299..500).map(chunk).collect();
        idx.upsert(&rest).unwrap();
        assert!(idx.is_approximate(), "the graph is built at the threshold");
        let exact = VectorIndex::with_ann(usize::MAX, params);
        exact
            .upsert(&(0..500).map(chunk).collect::<Vec<_>>())
            .unwrap();
        // Recall@10 against exact search, open and filtered (walk and exact plans).
        let open = Filter::default();
        let spanish = Filter {
            languages: vec![Lang::Es],
            ..Filter::default()
        };
        let only_vip = Filter {
            labels: vec!["vip".into()],
            tags: vec!["a".into()],
            ..Filter::default()
        };
        for f in [&open, &spanish, &only_vip] {
            let mut found = 0;
            let mut total = 0;
            for q in &vectors[500..540] {
                let want: HashSet<u64> = exact
                    .search(q, 10, f)
                    .unwrap()
                    .iter()
                    .map(|h| h.0)
                    .collect();
                let got = idx.search(q, 10, f).unwrap();
                for (id, _) in &got {
                    let m = &chunk(*id as usize - 1).meta;
                    assert!(f.allows(m), "a filtered-out chunk came back");
                }
                found += got.iter().filter(|h| want.contains(&h.0)).count();
                total += want.len();
            }
            assert!(
                found as f32 / total as f32 >= 0.95,
                "recall {found}/{total}"
            );
        }
        // Saved, changed after the save, reloaded: the graph is reused and brought up to date.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.ann");
        assert!(idx.save(&path).unwrap());
        assert!(!idx.save(&path).unwrap(), "nothing changed since");
        idx.delete(&[1, 2, 3]).unwrap();
        idx.upsert(&(500..600).map(chunk).collect::<Vec<_>>())
            .unwrap();
        let now: Vec<_> = (3..600).map(chunk).collect();
        let (ann, keys) = Ann::load(&path, dims, params).unwrap();
        assert_eq!(keys.len(), 500);
        let back = VectorIndex::with_ann(300, params);
        back.load(&now, Some((ann, keys))).unwrap();
        assert!(back.is_approximate());
        assert_eq!(back.ids().unwrap(), idx.ids().unwrap());
        assert_eq!(back.ids().unwrap().len(), 597);
        // The chunks added after the save are in the graph (approximate: counted, not bet on
        // one query).
        let found = (500..600)
            .filter(|&i| back.search(&vectors[i], 1, &open).unwrap()[0].0 == i as u64 + 1)
            .count();
        assert!(found >= 97, "self-recall@1 of the added chunks {found}/100");
        assert!(back
            .search(&vectors[1], 5, &open)
            .unwrap()
            .iter()
            .all(|h| h.0 > 3));
    }
}
