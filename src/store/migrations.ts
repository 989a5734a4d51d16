import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely'

/**
 * Versioned migrations, kept in code so the compiled package carries them. Never edit one that
 * has shipped: add the next number.
 */
const migrations: Record<string, Migration> = {
  '0001_users_and_signing_keys': {
    async up (db: Kysely<any>) {
      await db.schema.createTable('users')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('username', 'text', (column) => column.notNull().unique())
        .addColumn('password_hash', 'text', (column) => column.notNull())
        .addColumn('disabled', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('updated_at', 'text', (column) => column.notNull())
        .execute()

      await db.schema.createTable('signing_keys')
        .addColumn('kid', 'text', (column) => column.primaryKey())
        .addColumn('algorithm', 'text', (column) => column.notNull())
        .addColumn('public_jwk', 'text', (column) => column.notNull())
        .addColumn('private_key', 'text', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .execute()

      await db.schema.createIndex('signing_keys_algorithm_created')
        .on('signing_keys')
        .columns(['algorithm', 'created_at'])
        .execute()
    },
    async down (db: Kysely<any>) {
      await sql`drop table signing_keys`.execute(db)
      await sql`drop table users`.execute(db)
    }
  },
  '0002_clients_refresh_tokens_revocations': {
    async up (db: Kysely<any>) {
      await db.schema.createTable('clients')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('secret_hash', 'text')
        .addColumn('grant_types', 'text', (column) => column.notNull())
        .addColumn('scopes', 'text', (column) => column.notNull())
        .addColumn('audience', 'text')
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('updated_at', 'text', (column) => column.notNull())
        .execute()

      await db.schema.createTable('refresh_families')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('subject', 'text', (column) => column.notNull())
        .addColumn('user_id', 'text')
        .addColumn('client_id', 'text')
        .addColumn('scope', 'text')
        .addColumn('claims', 'text', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('expires_at', 'text', (column) => column.notNull())
        .addColumn('revoked_at', 'text')
        .addColumn('revoked_reason', 'text')
        .execute()
      await db.schema.createIndex('refresh_families_user').on('refresh_families')
        .column('user_id').execute()
      await db.schema.createIndex('refresh_families_client').on('refresh_families')
        .column('client_id').execute()

      await db.schema.createTable('refresh_tokens')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('family_id', 'text', (column) =>
          column.notNull().references('refresh_families.id').onDelete('cascade'))
        .addColumn('token_hash', 'text', (column) => column.notNull().unique())
        .addColumn('parent_id', 'text')
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('expires_at', 'text', (column) => column.notNull())
        .addColumn('consumed_at', 'text')
        .addColumn('successor_id', 'text')
        .addColumn('successor_sealed', 'text')
        .execute()
      await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens')
        .column('family_id').execute()

      await db.schema.createTable('revoked_tokens')
        .addColumn('jti', 'text', (column) => column.primaryKey())
        .addColumn('expires_at', 'text', (column) => column.notNull())
        .execute()
    },
    async down (db: Kysely<any>) {
      for (const table of ['revoked_tokens', 'refresh_tokens', 'refresh_families', 'clients']) {
        await db.schema.dropTable(table).execute()
      }
    }
  },
  '0003_signing_key_schedule': {
    async up (db: Kysely<any>) {
      await db.schema.alterTable('signing_keys')
        .addColumn('activates_at', 'text', (column) => column.notNull().defaultTo(''))
        .execute()
      await db.schema.alterTable('signing_keys')
        .addColumn('generation', 'integer', (column) => column.notNull().defaultTo(0))
        .execute()
      // Keys made before had no schedule: each signed from its creation, in that order.
      await sql`
        update signing_keys set activates_at = created_at, generation = (
          select count(*) from signing_keys as older
          where older.created_at < signing_keys.created_at
            or (older.created_at = signing_keys.created_at and older.kid <= signing_keys.kid)
        )`.execute(db)
      // The constraint replicas agree through: only one of them adds each next key.
      await db.schema.createIndex('signing_keys_generation').on('signing_keys')
        .column('generation').unique().execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.dropIndex('signing_keys_generation').execute()
      await db.schema.alterTable('signing_keys').dropColumn('generation').execute()
      await db.schema.alterTable('signing_keys').dropColumn('activates_at').execute()
    }
  },
  '0004_expiry_indexes': {
    // The purge looks rows up by expiry: without these it scans both tables every hour.
    async up (db: Kysely<any>) {
      await db.schema.createIndex('refresh_families_expires').on('refresh_families')
        .column('expires_at').execute()
      await db.schema.createIndex('revoked_tokens_expires').on('revoked_tokens')
        .column('expires_at').execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.dropIndex('revoked_tokens_expires').execute()
      await db.schema.dropIndex('refresh_families_expires').execute()
    }
  }
}

export const migrationProvider: MigrationProvider = {
  async getMigrations () {
    return migrations
  }
}
