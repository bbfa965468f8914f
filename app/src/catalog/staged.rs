//! An uploaded Shopify or WooCommerce export kept as its records, so that it is never held
//! whole in memory: the upload is parsed while it streams in and stored a thousand records at
//! a time, and the preview and the import read it back a batch of whole products at a time.
//! What crosses batches is settled in SQL when the upload ends: which records make one
//! product (a WooCommerce variation joins the product its `Parent` names), the order of the
//! products, WooCommerce addresses numbered across the file, and SKUs used twice.

use super::RowError;
use super::foreign::{Columns, Record, Source, Staged};
use crate::error::{AppError, AppResult};
use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use std::io::Read;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Bytes of one uploaded export (a 10,000-variant Shopify file with descriptions fits).
pub const MAX_FILE_BYTES: usize = 15 * 1024 * 1024;
/// Products read, converted, checked (and written) together.
pub const BATCH_PRODUCTS: i64 = 200;
/// Records stored per insert while the upload streams in.
const INSERT_RECORDS: usize = 1_000;

/// The upload's chunks as a `Read` for the CSV reader on a blocking thread. Hand-written
/// because tokio-util's `SyncIoBridge` needs a `'static` reader, and a multipart field
/// borrows its request: the chunks cross a bounded channel instead.
struct ChunkReader {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

struct StagedRecord {
    line: i64,
    cells: Vec<String>,
    staged: Staged,
    error: Option<String>,
}

enum Parsed {
    Headers(Vec<String>),
    Records(Vec<StagedRecord>),
}

/// Why an upload is refused as a whole.
enum Refused {
    NotUtf8,
}

/// Reads the upload's records as they arrive (on a blocking thread) and hands them on in
/// groups; a record the reader cannot read is kept with the reason, for the preview.
fn parse(source: Source, input: ChunkReader, out: mpsc::Sender<Parsed>) -> Result<(), Refused> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => return Err(Refused::NotUtf8),
        Err(_) => csv::StringRecord::new(),
    };
    let columns = Columns::new(source, &headers);
    let names = headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    if out.blocking_send(Parsed::Headers(names)).is_err() {
        return Ok(());
    }
    let mut batch = Vec::with_capacity(INSERT_RECORDS);
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() as i64;
        let staged = match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => StagedRecord {
                line: record.position().map_or(line, |p| p.line() as i64),
                cells: record.iter().map(str::to_string).collect(),
                staged: columns.staged(&record),
                error: None,
            },
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                return Err(Refused::NotUtf8);
            }
            Err(e) => StagedRecord {
                line: e.position().map_or(line, |p| p.line() as i64),
                cells: Vec::new(),
                staged: Staged::default(),
                error: Some(format!("This line could not be read as CSV: {e}")),
            },
        };
        batch.push(staged);
        if batch.len() == INSERT_RECORDS
            && out
                .blocking_send(Parsed::Records(std::mem::take(&mut batch)))
                .is_err()
        {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = out.blocking_send(Parsed::Records(batch));
    }
    Ok(())
}

fn too_big() -> AppError {
    AppError::validation(
        "file",
        format!(
            "This file is larger than {} MB, the most one import takes. Export your products in parts (by collection or category) and import each.",
            MAX_FILE_BYTES / (1024 * 1024)
        ),
    )
}

/// Stores an export as it streams in (in the caller's transaction, so a refused or broken
/// upload leaves nothing behind). Returns the bytes read.
pub async fn store<S>(
    tx: &mut sqlx::PgConnection,
    import_id: Uuid,
    source: Source,
    mut chunks: S,
) -> AppResult<usize>
where
    S: Stream<Item = AppResult<Bytes>> + Unpin,
{
    let (chunk_tx, chunk_rx) = mpsc::channel::<Bytes>(4);
    let (parsed_tx, mut parsed_rx) = mpsc::channel::<Parsed>(2);
    let parser = tokio::task::spawn_blocking(move || {
        parse(
            source,
            ChunkReader {
                chunks: chunk_rx,
                current: Bytes::new(),
            },
            parsed_tx,
        )
    });
    let feed = async move {
        let mut total = 0usize;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            total += chunk.len();
            if total > MAX_FILE_BYTES {
                return Err(too_big());
            }
            // The parser stops early on a file it refuses; its answer says why.
            if chunk_tx.send(chunk).await.is_err() {
                break;
            }
        }
        Ok(total)
    };
    let keep = async {
        let mut seq = 0i32;
        while let Some(parsed) = parsed_rx.recv().await {
            match parsed {
                Parsed::Headers(headers) => {
                    sqlx::query("update catalog_imports set headers = $2 where id = $1")
                        .bind(import_id)
                        .bind(&headers)
                        .execute(&mut *tx)
                        .await?;
                }
                Parsed::Records(records) => {
                    insert(&mut *tx, import_id, &mut seq, records).await?;
                }
            }
        }
        Ok::<_, AppError>(())
    };
    let (total, ()) = tokio::try_join!(feed, keep)?;
    match parser
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("reading the upload failed: {e}")))?
    {
        Ok(()) => {}
        Err(Refused::NotUtf8) => {
            return Err(AppError::validation(
                "file",
                "This file is not UTF-8 text. Upload the CSV exactly as the export made it, or save it again as \"CSV UTF-8\".",
            ));
        }
    }
    settle(tx, import_id).await?;
    Ok(total)
}

async fn insert(
    tx: &mut sqlx::PgConnection,
    import_id: Uuid,
    seq: &mut i32,
    records: Vec<StagedRecord>,
) -> AppResult<()> {
    let n = records.len();
    let mut seqs = Vec::with_capacity(n);
    let mut lines = Vec::with_capacity(n);
    // `unnest` cannot take an array of arrays of different lengths: each record's cells
    // travel as one JSON array.
    let mut cells = Vec::with_capacity(n);
    let (mut groups, mut skus, mut keys, mut parents, mut bases, mut errors) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for r in records {
        seqs.push(*seq);
        *seq += 1;
        lines.push(r.line);
        cells.push(serde_json::to_string(&r.cells).unwrap_or_else(|_| "[]".into()));
        groups.push(r.staged.group);
        skus.push(r.staged.sku);
        keys.push(serde_json::to_string(&r.staged.keys).unwrap_or_else(|_| "[]".into()));
        parents.push(r.staged.parent_ref);
        bases.push(r.staged.slug_base);
        errors.push(r.error);
    }
    sqlx::query(
        "insert into catalog_import_rows (import_id, seq, line, cells, grp, sku, keys, parent_ref, slug_base, error)
         select $1, t.seq, t.line, array(select json_array_elements_text(t.cells::json)), t.grp, t.sku,
                array(select json_array_elements_text(t.keys::json)), t.parent_ref, t.slug_base, t.error
         from unnest($2::int4[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
              as t(seq, line, cells, grp, sku, keys, parent_ref, slug_base, error)",
    )
    .bind(import_id)
    .bind(&seqs)
    .bind(&lines)
    .bind(&cells)
    .bind(&groups)
    .bind(&skus)
    .bind(&keys)
    .bind(&parents)
    .bind(&bases)
    .bind(&errors)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What needs the whole file, settled once it is stored: groups, their order, and addresses.
async fn settle(tx: &mut sqlx::PgConnection, import_id: Uuid) -> AppResult<()> {
    // A product that names no group is a group of its own; a WooCommerce variation joins the
    // variable product whose SKU or id its `Parent` gives (the first such, by line); one
    // naming none stays alone, and the preview says so.
    sqlx::query(
        "update catalog_import_rows set grp = '#' || seq
         where import_id = $1 and grp is null and parent_ref = ''",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "update catalog_import_rows v
            set grp = (select p.grp from catalog_import_rows p
                       where p.import_id = $1 and v.parent_ref = any(p.keys) order by p.seq limit 1)
         where v.import_id = $1 and v.parent_ref <> ''",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "update catalog_import_rows set grp = '#' || seq where import_id = $1 and grp is null",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "update catalog_import_rows r set first_seq = g.first
         from (select grp, min(seq) as first from catalog_import_rows where import_id = $1 group by grp) g
         where r.import_id = $1 and r.grp = g.grp",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    // WooCommerce has no addresses: a product's is made from its name, and a second product
    // of the same name gets `-2`, in the file's order.
    sqlx::query(
        "update catalog_import_rows r
            set slug = case when n.k = 1 then r.slug_base else r.slug_base || '-' || n.k end
         from (select seq, row_number() over (partition by slug_base order by seq) as k
               from catalog_import_rows where import_id = $1 and slug_base <> '') n
         where r.import_id = $1 and r.seq = n.seq",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Every use of a SKU after its first in the file (so problems that span batches are found),
/// the first `limit` by line.
pub async fn repeated_skus(
    conn: &mut sqlx::PgConnection,
    import_id: Uuid,
    limit: i64,
) -> AppResult<Vec<RowError>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "select line, sku from (
             select line, sku, row_number() over (partition by sku order by first_seq, seq) as n
             from catalog_import_rows where import_id = $1 and sku <> '') d
         where n > 1 order by line limit $2",
    )
    .bind(import_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(line, sku)| RowError {
            line: line as u64,
            message: format!("sku: {sku} appears more than once in the file."),
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct StagedRow {
    first_seq: i32,
    line: i64,
    cells: Vec<String>,
    slug: Option<String>,
    error: Option<String>,
}

/// The next batch of whole products after the product that began at `after` (-1: the first
/// batch), in the file's order: the records to convert, records that could not be read, and
/// where the batch ends (None: nothing left).
pub async fn batch(
    conn: &mut sqlx::PgConnection,
    import_id: Uuid,
    after: i32,
) -> AppResult<(Vec<Record>, Vec<RowError>, Option<i32>)> {
    let rows: Vec<StagedRow> = sqlx::query_as(
        "with products as (
             select distinct first_seq from catalog_import_rows
             where import_id = $1 and first_seq > $2 order by first_seq limit $3)
         select first_seq, line, cells, slug, error from catalog_import_rows
         where import_id = $1 and first_seq in (select first_seq from products)
         order by first_seq, seq",
    )
    .bind(import_id)
    .bind(after)
    .bind(BATCH_PRODUCTS)
    .fetch_all(&mut *conn)
    .await?;
    let end = rows.last().map(|r| r.first_seq);
    let mut records = Vec::with_capacity(rows.len());
    let mut unreadable = Vec::new();
    for StagedRow {
        line,
        cells,
        slug,
        error,
        ..
    } in rows
    {
        match error {
            Some(message) => unreadable.push(RowError {
                line: line as u64,
                message,
            }),
            None => records.push(Record {
                line: line as u64,
                cells: csv::StringRecord::from(cells),
                slug,
            }),
        }
    }
    Ok((records, unreadable, end))
}
