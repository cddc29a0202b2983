import type { MysqlNamespace } from './mysql';
import { uniqueCredentialId, type RotationRig } from './rotation';
import { services } from './services';

/**
 * The shared MySQL/MariaDB server's admin registered as a new admin credential for `ns`'s database:
 * the set-up of the MariaDB whole-system tests. Returns its id and `where`, the definition fields an
 * app credential of `ns` shares with it (engine, server, database).
 */
export async function addMysqlAdmin(rig: RotationRig, ns: MysqlNamespace) {
  const where = {
    engine: 'mysql' as const,
    host: services.mysql.host,
    port: services.mysql.port,
    database: ns.database,
  };
  const adminId = uniqueCredentialId('mysql-admin');
  await rig.addCredential(
    { id: adminId, ...where },
    { username: services.mysql.user, password: services.mysql.password },
  );
  return { adminId, where };
}
