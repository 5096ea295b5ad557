import { after } from 'node:test';
import { Neo4jTopologyStore } from '../../services/topology/neo4j.ts';
import { NEO4J_MISSING, startNeo4j } from '../helpers/neo4j.ts';
import { topologyContract } from './topology.contract.ts';

// One real Neo4j 5 server (from Maven Central, see test/neo4j) for the whole file.
const server = await startNeo4j({ after });
if (!server) process.stderr.write(`skipping Neo4j topology contract: ${NEO4J_MISSING}\n`);

topologyContract('neo4j', async () => {
  if (!server) return null;
  const store = new Neo4jTopologyStore({ uri: server.uri, user: server.user, password: server.password });
  return {
    store,
    cleanup: async () => {
      await store.close();
    },
  };
});
