package rootline.neo4j;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.ConnectorPortRegister;
import org.neo4j.configuration.connectors.ConnectorType;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.QueryExecutionException;
import org.neo4j.io.ByteUnit;
import org.neo4j.kernel.internal.GraphDatabaseAPI;

/**
 * Starts an embedded Neo4j Community DBMS with only Bolt on 127.0.0.1, for integration tests.
 *
 * <pre>
 * java -Xmx512m -cp "$(cat target/classpath.txt)" rootline.neo4j.Launcher [options] [port] [home-dir]
 *   port             Bolt port on 127.0.0.1; 0 (the default) lets the kernel pick a free one
 *   home-dir         Neo4j home (data/ and logs/ go below it); a temp dir removed at exit by default
 *   --password PW    enable auth and set the password of user "neo4j" (at least 8 characters);
 *                    without it auth is disabled
 *   --no-stdin-watch keep running when stdin closes (by default EOF on stdin stops the server, so a
 *                    server whose parent died cannot outlive it)
 *   --pagecache MB   page cache size in MiB (default 64)
 *   --delete-home    remove home-dir on exit also when it was given
 *   --train          after BOLT_READY, run a small Cypher workload and exit: build.sh runs this once
 *                    with -XX:ArchiveClassesAtExit to make a class-data archive that speeds up starts
 * </pre>
 *
 * Prints exactly one line {@code BOLT_READY bolt://127.0.0.1:<port>} on stdout when Bolt accepts
 * connections; every other message goes to stderr or to home-dir/logs. Stops cleanly on SIGTERM,
 * SIGINT or EOF on stdin, and exits with status 2 on bad arguments, 1 on a failed start.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws Exception {
        int port = 0;
        Path home = null;
        String password = null;
        boolean watchStdin = true;
        boolean train = false;
        boolean deleteHome = false;
        long pageCacheMb = 64;
        int positional = 0;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            switch (arg) {
                case "--password" -> password = requireValue(args, ++i, arg);
                case "--no-stdin-watch" -> watchStdin = false;
                case "--train" -> train = true;
                case "--delete-home" -> deleteHome = true;
                case "--pagecache" -> pageCacheMb = Long.parseLong(requireValue(args, ++i, arg));
                case "-h", "--help" -> {
                    System.err.println("usage: Launcher [--password PW] [--no-stdin-watch] [--pagecache MB] [--delete-home] [port] [home-dir]");
                    System.exit(0);
                }
                default -> {
                    if (arg.startsWith("--")) usage("unknown option " + arg);
                    if (positional == 0) port = Integer.parseInt(arg);
                    else if (positional == 1) home = Path.of(arg).toAbsolutePath();
                    else usage("too many arguments");
                    positional++;
                }
            }
        }
        if (port < 0 || port > 65535) usage("port out of range: " + port);
        if (password != null && password.length() < 8) usage("the password needs at least 8 characters");

        boolean temporary = home == null || deleteHome;
        Path homeDir = home == null ? Files.createTempDirectory("rootline-neo4j-") : home;
        Files.createDirectories(homeDir);

        // Registered before the DBMS exists, so SIGTERM or EOF on stdin during a slow start also cleans up.
        AtomicReference<DatabaseManagementService> running = new AtomicReference<>();
        AtomicBoolean stopped = new AtomicBoolean();
        Runnable shutdown = () -> {
            if (!stopped.compareAndSet(false, true)) return;
            DatabaseManagementService current = running.get();
            if (current != null) {
                try {
                    current.shutdown();
                } catch (RuntimeException e) {
                    System.err.println("neo4j shutdown failed: " + e);
                }
            }
            if (temporary) deleteTree(homeDir);
        };
        // SIGTERM/SIGINT run the shutdown hooks; so does System.exit.
        Runtime.getRuntime().addShutdownHook(new Thread(shutdown, "neo4j-shutdown"));
        // Training runs get /dev/null as stdin.
        if (watchStdin && !train) exitOnStdinEof();

        long started = System.nanoTime();
        DatabaseManagementService dbms;
        try {
            dbms = new DatabaseManagementServiceBuilder(homeDir)
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                    .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                    .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                    .setConfig(HttpConnector.enabled, false)
                    .setConfig(HttpsConnector.enabled, false)
                    .setConfig(GraphDatabaseSettings.auth_enabled, password != null)
                    .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pageCacheMb))
                    // Small transaction logs that are not preallocated: tests write little, disks may be small.
                    .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                    .setConfig(GraphDatabaseSettings.logical_log_rotation_threshold, ByteUnit.mebiBytes(16))
                    .setConfig(GraphDatabaseSettings.keep_logical_logs, "false")
                    .setConfig(GraphDatabaseSettings.shutdown_transaction_end_timeout, Duration.ofSeconds(2))
                    // Bolt waits 5 s twice for its threads and connections by default, making every stop take 10 s.
                    .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofMillis(200))
                    .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofMillis(200))
                    .build();
            running.set(dbms);
        } catch (RuntimeException e) {
            e.printStackTrace();
            System.exit(1);
            return;
        }

        try {
            GraphDatabaseAPI system = (GraphDatabaseAPI) dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
            if (password != null) setPassword(system, password);
            GraphDatabaseAPI db = (GraphDatabaseAPI) dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
            if (!db.isAvailable(Duration.ofSeconds(60).toMillis())) throw new IllegalStateException("database neo4j did not become available");
            var bound = db.getDependencyResolver()
                    .resolveDependency(ConnectorPortRegister.class)
                    .getLocalAddress(ConnectorType.BOLT);
            if (bound == null) throw new IllegalStateException("Bolt connector did not bind");
            System.err.printf("neo4j %s started in %d ms, home %s%n",
                    org.neo4j.kernel.internal.Version.getNeo4jVersion(),
                    Duration.ofNanos(System.nanoTime() - started).toMillis(), homeDir);
            System.out.println("BOLT_READY bolt://127.0.0.1:" + bound.getPort());
            System.out.flush();
            if (train) {
                train(db);
                System.exit(0);
            }
        } catch (RuntimeException e) {
            e.printStackTrace();
            System.exit(1);
        }

        // Park the main thread: the JVM ends through a signal or System.exit, both of which run the hook.
        new CountDownLatch(1).await();
    }

    /** EOF on stdin (the parent process is gone, or closed the pipe) stops the server. */
    private static void exitOnStdinEof() {
        Thread watcher = new Thread(() -> {
            try (InputStream in = System.in) {
                byte[] buffer = new byte[256];
                while (in.read(buffer) >= 0) {
                    // Input is ignored; only EOF matters.
                }
            } catch (IOException ignored) {
                // A broken stdin means the parent is gone too.
            }
            System.err.println("stdin closed: stopping neo4j");
            System.exit(0);
        }, "stdin-watch");
        watcher.setDaemon(true);
        watcher.start();
    }

    private static void setPassword(GraphDatabaseAPI system, String password) {
        try {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED", Map.of("password", password));
        } catch (QueryExecutionException e) {
            // A home dir from an earlier run (or a copied template) may have this password already.
            if (!String.valueOf(e.getMessage()).contains("Old password and new password cannot be the same")) throw e;
        }
    }

    /** Loads the classes of the kinds of statements tests run: schema, batched MERGE, reads, paths. */
    private static void train(GraphDatabaseAPI db) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < 20; i++) rows.add(Map.of("id", "t" + i, "name", "train " + i, "n", i));
        String[] statements = {
            "CREATE CONSTRAINT train_id IF NOT EXISTS FOR (n:RootlineTrain) REQUIRE n.id IS UNIQUE",
            "CREATE INDEX train_name IF NOT EXISTS FOR (n:RootlineTrain) ON (n.name)",
            "CALL db.awaitIndexes(60)",
            "UNWIND $rows AS r MERGE (n:RootlineTrain {id: r.id}) SET n.name = r.name, n.n = r.n, n += {seen: timestamp()}",
            "UNWIND $rows AS r MATCH (a:RootlineTrain {id: r.id}) MATCH (b:RootlineTrain {id: 't' + ((r.n + 1) % 20)})"
                    + " MERGE (a)-[e:DEPENDS_ON]->(b) SET e.weight = toFloat(r.n) / 20",
            "MATCH (n:RootlineTrain) RETURN count(n) AS c, collect(n.id)[0..3] AS ids, avg(n.n) AS mean",
            "MATCH (n:RootlineTrain {id: $id}) OPTIONAL MATCH (n)-[e]->(m) RETURN n {.*} AS node, type(e) AS t, m.name AS name",
            "MATCH p = (a:RootlineTrain {id: $id})-[:DEPENDS_ON*1..4]->(b) RETURN [x IN nodes(p) | x.id] AS ids, length(p) AS len ORDER BY len LIMIT 10",
            "MATCH (a:RootlineTrain)-[e:DEPENDS_ON]->(b) WHERE e.weight > $w WITH a, count(b) AS out RETURN a.id, out ORDER BY out DESC, a.id SKIP 1 LIMIT 5",
            "MATCH (n:RootlineTrain) WHERE n.name STARTS WITH 'train' AND n.id IN $ids RETURN n.id, labels(n), keys(n), properties(n)",
            "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties RETURN *",
            "SHOW INDEXES YIELD name, type, state RETURN *",
            "CALL db.labels() YIELD label RETURN label",
            "MATCH (n:RootlineTrain) WITH n LIMIT 5 DETACH DELETE n",
            "MATCH (n:RootlineTrain) DETACH DELETE n",
            "DROP INDEX train_name IF EXISTS",
            "DROP CONSTRAINT train_id IF EXISTS",
        };
        Map<String, Object> params = Map.of("rows", rows, "id", "t1", "w", 0.2, "ids", List.of("t1", "t2"));
        for (int round = 0; round < 2; round++) {
            for (String statement : statements) {
                db.executeTransactionally(statement, params, result -> {
                    while (result.hasNext()) result.next();
                    return null;
                });
            }
        }
    }

    private static String requireValue(String[] args, int index, String option) {
        if (index >= args.length) usage(option + " needs a value");
        return args[index];
    }

    private static void usage(String message) {
        System.err.println("Launcher: " + message);
        System.err.println("usage: Launcher [--password PW] [--no-stdin-watch] [--pagecache MB] [--delete-home] [port] [home-dir]");
        System.exit(2);
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) return;
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            System.err.println("could not remove " + root + ": " + e);
        }
    }
}
