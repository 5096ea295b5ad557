/**
 * Smoke test of the Neo4j test server (test/helpers/neo4j.ts) with the real neo4j-driver: a uniqueness
 * constraint, a parameterized UNWIND ... MERGE batch, and reads back what was written.
 * Skips visibly (never passes silently) when Java/Maven are missing, except in CI (CI=true), where it fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import neo4j from 'neo4j-driver';
import type { Driver } from 'neo4j-driver';
import { NEO4J_MISSING, startNeo4j } from '../helpers/neo4j.ts';

const server = await startNeo4j();
// Skipped per test, not per suite, so the report counts them as skipped.
const skip = server === null ? NEO4J_MISSING : false;

describe('neo4j test server', () => {
  let driver: Driver | undefined;

  before(async () => {
    if (server === null) return;
    driver = neo4j.driver(server.uri, neo4j.auth.basic(server.user, server.password), { disableLosslessIntegers: true });
    await driver.verifyConnectivity();
  });

  after(async () => {
    await driver?.close();
    await server?.stop();
  });

  function connected(): Driver {
    assert.ok(driver !== undefined, 'no driver: the before hook failed');
    return driver;
  }

  it('is a Neo4j 5 server', { skip }, async () => {
    const driver = connected();
    const info = await driver.getServerInfo();
    assert.match(info.agent ?? '', /^Neo4j\/5\./);
    const { records } = await driver.executeQuery('CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition');
    assert.equal(records.length, 1);
    assert.equal(records[0]?.get('name'), 'Neo4j Kernel');
    assert.equal(records[0]?.get('edition'), 'community');
    assert.match(String((records[0]?.get('versions') as string[])[0]), /^5\.\d+\.\d+/);
  });

  it('enforces a uniqueness constraint and merges a parameterized batch', { skip }, async () => {
    const driver = connected();
    await driver.executeQuery('CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE');
    const constraints = await driver.executeQuery(
      "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties WHERE name = 'entity_id' RETURN type, labelsOrTypes, properties",
    );
    assert.equal(constraints.records.length, 1);
    assert.equal(constraints.records[0]?.get('type'), 'UNIQUENESS');
    assert.deepEqual(constraints.records[0]?.get('labelsOrTypes'), ['Entity']);
    assert.deepEqual(constraints.records[0]?.get('properties'), ['id']);

    const merge = 'UNWIND $rows AS r MERGE (n:Entity {id: r.id}) SET n.name = r.name';
    const rows = Array.from({ length: 50 }, (_, i) => ({ id: `svc-${i}`, name: `service ${i}` }));
    const first = await driver.executeQuery(merge, { rows });
    assert.equal(first.summary.counters.updates().nodesCreated, 50);

    // The same ids again, renamed: MERGE must match, not create.
    const renamed = rows.slice(0, 10).map((r) => ({ id: r.id, name: `${r.name} (renamed)` }));
    const second = await driver.executeQuery(merge, { rows: renamed });
    assert.equal(second.summary.counters.updates().nodesCreated, 0);
    assert.equal(second.summary.counters.updates().propertiesSet, 10);

    const count = await driver.executeQuery('MATCH (n:Entity) RETURN count(n) AS c');
    assert.equal(count.records[0]?.get('c'), 50);
    const one = await driver.executeQuery('MATCH (n:Entity {id: $id}) RETURN n.name AS name', { id: 'svc-3' });
    assert.equal(one.records[0]?.get('name'), 'service 3 (renamed)');

    await assert.rejects(
      driver.executeQuery('CREATE (:Entity {id: $id, name: $name})', { id: 'svc-0', name: 'duplicate' }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'Neo.ClientError.Schema.ConstraintValidationFailed');
        return true;
      },
    );
  });
});
