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
  }
}

export const migrationProvider: MigrationProvider = {
  async getMigrations () {
    return migrations
  }
}
