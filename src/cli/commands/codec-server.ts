/** `codec-server`: /encode and /decode for the Temporal UI and CLI. */
import type { Command } from 'commander';
import { createCodecServer, type CodecServerOptions } from '../../codec/server';
import { loadConfig, type RotatorConfig } from '../../config';
import { CliError, EXIT } from '../exit-codes';

export function registerCodecServerCommand(program: Command): void {
  program
    .command('codec-server')
    .description('serve /encode and /decode for the Temporal UI/CLI (needs ROTATOR_CODEC_SERVER_TOKEN)')
    .action(async () => {
      const cfg = loadConfig();
      const server = createCodecServer(codecServerOptions(cfg));
      await new Promise<void>((resolve) => server.listen(cfg.codecServerPort, '127.0.0.1', resolve));
      console.log(
        `codec server on http://127.0.0.1:${cfg.codecServerPort} (CORS origin ${cfg.codecServerCorsOrigin})`,
      );
      await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
      server.close();
    });
}

/** Codec server settings from the config; errors name the missing variable. */
function codecServerOptions(cfg: RotatorConfig): CodecServerOptions {
  const base = { keyring: cfg.codecKeyring, corsOrigin: cfg.codecServerCorsOrigin };
  const token = cfg.codecServerToken;
  switch (cfg.codecServerAuth) {
    case 'token':
      if (!token) {
        throw new CliError(
          'set ROTATOR_CODEC_SERVER_TOKEN (operators present it as a bearer token)',
          EXIT.usage,
        );
      }
      return { ...base, token };
    case 'jwt':
      if (!cfg.codecServerJwtIssuer || !cfg.codecServerJwksUrl) {
        throw new CliError(
          'JWT mode needs ROTATOR_CODEC_SERVER_JWT_ISSUER and ROTATOR_CODEC_SERVER_JWKS_URL',
          EXIT.usage,
        );
      }
      return {
        ...base,
        ...(token ? { token } : {}),
        auth: {
          mode: 'jwt',
          issuer: cfg.codecServerJwtIssuer,
          jwksUrl: cfg.codecServerJwksUrl,
          ...(cfg.codecServerJwtAudience ? { audience: cfg.codecServerJwtAudience } : {}),
        },
      };
    case 'loopback':
      return { ...base, ...(token ? { token } : {}), auth: { mode: 'loopback' } };
  }
}
