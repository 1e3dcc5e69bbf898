import * as fs from "node:fs";
import * as net from "node:net";
import mysql from "mysql2/promise";
import { type MariaDb, MYSQL8_SQL_MODE, startMariaDb } from "../../src/local/mariadb";

/** Resolves true if something accepts TCP connections on the port. */
function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("local MariaDB", () => {
  let db: MariaDb;
  let root: mysql.Connection;

  // The first run on a fresh machine installs mariadb-server through apt-get.
  beforeAll(async () => {
    db = await startMariaDb();
    root = await mysql.createConnection({ host: db.host, port: db.port, user: db.rootUser, password: db.rootPassword });
  }, 300_000);

  afterAll(async () => {
    await root?.end().catch(() => undefined);
    await db?.stop();
  });

  test("serves MariaDB 10.11 on 127.0.0.1 with MySQL 8's strict sql_mode", async () => {
    expect(db.host).toBe("127.0.0.1");
    const [rows] = await root.query<mysql.RowDataPacket[]>("SELECT VERSION() AS version, @@GLOBAL.sql_mode AS mode, 6 * 7 AS answer");
    expect(rows[0]!.version).toMatch(/^10\.11\..*MariaDB/);
    expect(rows[0]!.mode).toBe(MYSQL8_SQL_MODE);
    expect(rows[0]!.answer).toBe(42);
  });

  test("root needs the instance's password", async () => {
    await expect(mysql.createConnection({ host: db.host, port: db.port, user: "root", password: "wrong" })).rejects.toMatchObject({
      code: "ER_ACCESS_DENIED_ERROR",
    });
  });

  test("read-only refuses writes from ordinary users until switched off", async () => {
    await root.query("CREATE DATABASE ro_check");
    await root.query("CREATE TABLE ro_check.t (id INT PRIMARY KEY)");
    await root.query("CREATE USER 'writer'@'127.0.0.1' IDENTIFIED BY 'writer-pw'");
    await root.query("GRANT INSERT, SELECT ON ro_check.* TO 'writer'@'127.0.0.1'");
    const writer = await mysql.createConnection({ host: db.host, port: db.port, user: "writer", password: "writer-pw" });
    try {
      await db.setReadOnly(true);
      const [flag] = await root.query<mysql.RowDataPacket[]>("SELECT @@GLOBAL.read_only AS ro");
      expect(flag[0]!.ro).toBe(1);
      await expect(writer.query("INSERT INTO ro_check.t VALUES (1)")).rejects.toMatchObject({ errno: 1290 });
      await db.setReadOnly(false);
      await writer.query("INSERT INTO ro_check.t VALUES (1)");
      const [rows] = await writer.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM ro_check.t");
      expect(rows[0]!.n).toBe(1);
    } finally {
      await db.setReadOnly(false);
      await writer.end();
    }
  });

  test("stop closes the port and removes the data directory, and may be called twice", async () => {
    const other = await startMariaDb();
    expect(other.port).not.toBe(db.port);
    expect(await portOpen(other.port)).toBe(true);
    expect(fs.existsSync(other.dir)).toBe(true);
    await other.stop();
    await other.stop();
    expect(await portOpen(other.port)).toBe(false);
    expect(fs.existsSync(other.dir)).toBe(false);
  });
});
