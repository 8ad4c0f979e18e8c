import { type Command, Option } from 'commander'
import { parseSize } from './config.js'
import type { S3Settings } from './storage/blob/s3-client.js'

/**
 * The command-line options (each with an `AIRLOCK_*` variable) that choose where the server keeps
 * its data, shared by the server and `migrate-storage`. Secrets (the S3 secret key, a password in
 * the database URL) are best given as variables, which `ps` does not show.
 */
export function addStorageOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--database-url <url>',
        'PostgreSQL, postgres://user@host:5432/db (default: SQLite in --data-dir)',
      ).env('AIRLOCK_DATABASE_URL'),
    )
    .addOption(
      new Option('--s3-bucket <name>', 'keep blobs in this S3 bucket (default: --data-dir/blobs)').env(
        'AIRLOCK_S3_BUCKET',
      ),
    )
    .addOption(
      new Option('--s3-endpoint <url>', 'S3-compatible endpoint, e.g. https://minio.internal:9000').env(
        'AIRLOCK_S3_ENDPOINT',
      ),
    )
    .addOption(new Option('--s3-region <region>', 'S3 region').env('AIRLOCK_S3_REGION').default('us-east-1'))
    .addOption(
      new Option('--s3-access-key-id <id>', 'S3 access key (default: the AWS SDK credential chain)').env(
        'AIRLOCK_S3_ACCESS_KEY_ID',
      ),
    )
    .addOption(
      new Option('--s3-secret-access-key <key>', 'S3 secret key (prefer the variable)').env(
        'AIRLOCK_S3_SECRET_ACCESS_KEY',
      ),
    )
    .addOption(
      new Option(
        '--s3-path-style',
        'path-style URLs (https://host/bucket/key), for MinIO and most self-hosted S3',
      ).env('AIRLOCK_S3_PATH_STYLE'),
    )
    .addOption(
      new Option('--s3-prefix <prefix>', 'key prefix inside the bucket').env('AIRLOCK_S3_PREFIX').default(''),
    )
    .addOption(
      new Option('--s3-part-size <size>', 'multipart part size, at least 5M; also the memory per upload')
        .env('AIRLOCK_S3_PART_SIZE')
        .default('8M'),
    )
}

const MIN_PART = 5 * 1024 * 1024

/** The storage settings from parsed options; throws a plain Error with a message on bad input. */
export function storageSettings(o: Record<string, unknown>): {
  databaseUrl: string | null
  s3: S3Settings | null
} {
  const databaseUrl = (o.databaseUrl as string | undefined) || null
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error('--database-url must be a postgres:// URL')
  }
  const bucket = (o.s3Bucket as string | undefined) || null
  if (!bucket) {
    if (o.s3Endpoint) throw new Error('--s3-endpoint needs --s3-bucket')
    return { databaseUrl, s3: null }
  }
  const accessKeyId = (o.s3AccessKeyId as string | undefined) || null
  const secretAccessKey = (o.s3SecretAccessKey as string | undefined) || null
  if ((accessKeyId === null) !== (secretAccessKey === null)) {
    throw new Error('--s3-access-key-id and --s3-secret-access-key go together')
  }
  const partSize = parseSize(String(o.s3PartSize ?? '8M'))
  if (partSize < MIN_PART || partSize > 1024 ** 3) throw new Error('--s3-part-size must be from 5M to 1G')
  return {
    databaseUrl,
    s3: {
      endpoint: (o.s3Endpoint as string | undefined) || null,
      bucket,
      region: String(o.s3Region ?? 'us-east-1'),
      accessKeyId,
      secretAccessKey,
      forcePathStyle: Boolean(o.s3PathStyle),
      prefix: String(o.s3Prefix ?? ''),
      partSize,
    },
  }
}
