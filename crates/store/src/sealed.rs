//! Operations over every sealed column set: key-check values, per-KEK counts and rewrap.

use sqlx::{AssertSqlSafe, Row};
use strongroom_vault::{Domain, Envelope, KekId};

use crate::{Result, Store};

/// A table whose rows carry a vault envelope, with the vault domain its wrapped keys are bound
/// to and its primary-key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedTable {
    pub table: &'static str,
    pub id_column: &'static str,
    pub domain: Domain,
}

/// Every table holding sealed data. `vault rewrap` walks them all.
pub const SEALED_TABLES: &[SealedTable] = &[
    SealedTable {
        table: "secrets",
        id_column: "id",
        domain: Domain("secrets"),
    },
    SealedTable {
        table: "connectors",
        id_column: "id",
        domain: Domain("connectors"),
    },
    SealedTable {
        table: "sso_connectors",
        id_column: "id",
        domain: Domain("sso_connectors"),
    },
    SealedTable {
        table: "oidc_signing_keys",
        id_column: "id",
        domain: Domain("oidc_signing_keys"),
    },
    SealedTable {
        table: "oidc_interactions",
        id_column: "id",
        domain: Domain("oidc_interactions"),
    },
    SealedTable {
        table: "verification_records",
        id_column: "id",
        domain: Domain("verification_records"),
    },
];

/// How many records of a table are wrapped by one KEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekCount {
    pub table: &'static str,
    pub kek_id: KekId,
    pub count: i64,
}

/// One record's wrapped data key: read for rewrapping, then written back re-wrapped.
#[derive(Debug, Clone)]
pub struct RewrapItem {
    pub id: String,
    pub kek_id: KekId,
    pub encrypted_dek: Vec<u8>,
}

impl Store {
    /// Every stored key-check value.
    pub async fn list_key_checks(&self) -> Result<Vec<Envelope>> {
        let rows = sqlx::query(
            "SELECT kek_id, format_version, encrypted_dek, ciphertext FROM vault_keys ORDER BY created_at, kek_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::envelope_from_row).collect()
    }

    /// Stores a key-check value unless one exists for its KEK.
    pub async fn insert_key_check(&self, check: &Envelope, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO vault_keys (kek_id, format_version, encrypted_dek, ciphertext, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kek_id) DO NOTHING",
        )
        .bind(check.kek_id.as_str())
        .bind(check.format_version)
        .bind(check.encrypted_dek.as_slice())
        .bind(check.ciphertext.as_slice())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether any sealed record still needs the KEK `kek_id`.
    pub async fn kek_in_use(&self, kek_id: &KekId) -> Result<bool> {
        for t in SEALED_TABLES {
            let found = sqlx::query(AssertSqlSafe(format!(
                "SELECT 1 AS one FROM {} WHERE kek_id = $1 LIMIT 1",
                t.table
            )))
            .bind(kek_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
            if found.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Records per table and KEK id.
    pub async fn kek_counts(&self) -> Result<Vec<KekCount>> {
        let mut out = Vec::new();
        for t in SEALED_TABLES {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT kek_id, COUNT(*) AS n FROM {} WHERE kek_id IS NOT NULL GROUP BY kek_id ORDER BY kek_id",
                t.table
            )))
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                out.push(KekCount {
                    table: t.table,
                    kek_id: KekId::from_stored(row.try_get("kek_id")?),
                    count: row.try_get("n")?,
                });
            }
        }
        Ok(out)
    }

    /// Up to `limit` records of `table` with id greater than `after` whose key is not wrapped by
    /// `active`, in id order (keyset pagination, so a pass is linear however large the table).
    pub async fn rewrap_candidates(
        &self,
        table: &SealedTable,
        active: &KekId,
        after: &str,
        limit: i64,
    ) -> Result<Vec<RewrapItem>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {id} AS id, kek_id, encrypted_dek FROM {t} \
             WHERE {id} > $1 AND kek_id IS NOT NULL AND kek_id <> $2 ORDER BY {id} LIMIT $3",
            id = table.id_column,
            t = table.table
        )))
        .bind(after)
        .bind(active.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RewrapItem {
                    id: row.try_get("id")?,
                    kek_id: KekId::from_stored(row.try_get("kek_id")?),
                    encrypted_dek: row.try_get("encrypted_dek")?,
                })
            })
            .collect()
    }

    /// Writes re-wrapped keys back in one statement (so one atomic commit). Each pair is
    /// `(record as read, new KEK id and wrapped key)`. A record is only updated if its wrapped
    /// key is still the one that was read, so a concurrent refresh (which writes a whole new
    /// envelope) is never overwritten. Returns the number of records updated.
    pub async fn apply_rewraps(
        &self,
        table: &SealedTable,
        items: &[(RewrapItem, KekId, Vec<u8>)],
    ) -> Result<u64> {
        if items.is_empty() {
            return Ok(0);
        }
        let values = self.values_list(items.len(), 4);
        let sql = format!(
            "UPDATE {t} SET kek_id = v.column2, encrypted_dek = v.column3 \
             FROM (VALUES {values}) AS v WHERE {t}.{id} = v.column1 AND {t}.encrypted_dek = v.column4",
            t = table.table,
            id = table.id_column,
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (item, kek_id, wrapped) in items {
            query = query
                .bind(item.id.as_str())
                .bind(kek_id.as_str())
                .bind(wrapped.as_slice())
                .bind(item.encrypted_dek.as_slice());
        }
        // One statement is atomic on both engines: the whole batch commits or none of it.
        let updated = query.execute(&self.pool).await?.rows_affected();
        if table.table == "secrets" {
            self.secrets_changed();
        }
        Ok(updated)
    }
}
