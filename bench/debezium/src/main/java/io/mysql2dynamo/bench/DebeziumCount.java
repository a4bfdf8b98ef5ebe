package io.mysql2dynamo.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.runtime.WorkerConfig;
import org.apache.kafka.connect.storage.MemoryOffsetBackingStore;

import io.debezium.connector.mariadb.Module;
import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.Json;

/**
 * Counts the change events Debezium's embedded engine (MariaDB connector, JSON without schema) hands over,
 * from a given binlog position, until it has seen N of them; prints one line of timings and exits.
 *
 * <p>Usage: {@code java -jar target/debezium-count.jar CHANGES FILE POS GTIDS < connection.properties}, where
 * GTIDS is MariaDB's {@code @@gtid_binlog_pos} at that position ({@code -} for none) and stdin holds the
 * connection's Debezium properties (database.hostname, database.port, database.user, database.password,
 * database.server.id, database.include.list, table.include.list). Last line on stdout:
 * {@code DEBEZIUM version=.. changes=N start_to_first_s=.. first_to_last_s=.. start_to_last_s=.. json_chars=..}.
 *
 * <p>Nothing persists: the offset store is in memory, seeded with the start position; the schema history is in
 * memory. With a stored offset and no history Debezium needs {@code snapshot.mode=recovery}: it reads the
 * captured tables' definitions (no rows) and then streams from the stored offset, not from the server's head.
 */
public final class DebeziumCount {

    static final String ENGINE_NAME = "debezium-count";
    static final String TOPIC_PREFIX = "bench";

    /** The offset store: Kafka Connect's in-memory one, holding the start position before the engine reads it. */
    public static final class StartAt extends MemoryOffsetBackingStore {
        static final Map<ByteBuffer, ByteBuffer> SEED = new HashMap<>();

        @Override
        public void configure(WorkerConfig config) {
            super.configure(config);
            data.putAll(SEED);
        }

        @Override
        public Set<Map<String, Object>> connectorPartitions(String connectorName) {
            return Set.of();
        }
    }

    /** The key and value of a binlog connector's offset, serialized as the engine reads them back. */
    static void seed(String file, long pos, String gtids) {
        JsonConverter json = new JsonConverter();
        json.configure(Map.of("schemas.enable", "false", "converter.type", "key"));
        Map<String, Object> offset = new HashMap<>(Map.of("file", file, "pos", pos));
        if (!gtids.equals("-")) {
            offset.put("gtids", gtids);
        }
        byte[] key = json.fromConnectData("", null, Arrays.asList(ENGINE_NAME, Map.of("server", TOPIC_PREFIX)));
        byte[] value = json.fromConnectData("", null, offset);
        StartAt.SEED.put(ByteBuffer.wrap(key), ByteBuffer.wrap(value));
    }

    static Properties config(Properties connection) {
        Properties p = new Properties();
        p.setProperty("name", ENGINE_NAME);
        p.setProperty("connector.class", "io.debezium.connector.mariadb.MariaDbConnector");
        p.setProperty("topic.prefix", TOPIC_PREFIX);
        p.setProperty("offset.storage", StartAt.class.getName());
        p.setProperty("offset.flush.interval.ms", "60000");
        p.setProperty("schema.history.internal", "io.debezium.relational.history.MemorySchemaHistory");
        p.setProperty("snapshot.mode", "recovery");
        p.setProperty("snapshot.locking.mode", "none");
        p.setProperty("include.schema.changes", "false");
        p.setProperty("tombstones.on.delete", "false");
        p.setProperty("converter.schemas.enable", "false");
        p.setProperty("key.converter.schemas.enable", "false");
        p.setProperty("value.converter.schemas.enable", "false");
        p.putAll(connection);
        return p;
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        if (args.length != 4) {
            System.err.println("usage: DebeziumCount CHANGES FILE POS GTIDS < connection.properties");
            System.exit(2);
        }
        long want = Long.parseLong(args[0]);
        seed(args[1], Long.parseLong(args[2]), args[3]);
        Properties connection = new Properties();
        connection.load(System.in);

        CountDownLatch done = new CountDownLatch(1);
        AtomicReference<String> failure = new AtomicReference<>();
        long[] seen = new long[1];
        long[] chars = new long[1];
        long[] firstLast = new long[2];
        long start = System.nanoTime();
        DebeziumEngine<ChangeEvent<String, String>> engine = DebeziumEngine.create(Json.class)
                .using(config(connection))
                .using((boolean success, String message, Throwable error) -> {
                    if (!success) {
                        failure.set(message + (error == null ? "" : ": " + error));
                    }
                    done.countDown();
                })
                .notifying((List<ChangeEvent<String, String>> batch,
                            DebeziumEngine.RecordCommitter<ChangeEvent<String, String>> committer) -> {
                    for (ChangeEvent<String, String> event : batch) {
                        if (event.value() != null && seen[0] < want) {
                            long now = System.nanoTime();
                            if (seen[0] == 0) {
                                firstLast[0] = now;
                            }
                            chars[0] += event.value().length();
                            if (++seen[0] == want) {
                                firstLast[1] = now;
                                done.countDown();
                            }
                        }
                        committer.markProcessed(event);
                    }
                    committer.markBatchFinished();
                })
                .build();
        ExecutorService executor = Executors.newSingleThreadExecutor();
        executor.execute(engine);
        done.await();
        engine.close();
        executor.shutdown();
        executor.awaitTermination(30, TimeUnit.SECONDS);
        if (seen[0] < want) {
            System.err.println("debezium stopped after " + seen[0] + " of " + want + " changes: " + failure.get());
            System.exit(1);
        }
        System.out.printf("DEBEZIUM version=%s changes=%d start_to_first_s=%.3f first_to_last_s=%.3f "
                + "start_to_last_s=%.3f json_chars=%d%n", Module.version(), seen[0], (firstLast[0] - start) / 1e9,
                (firstLast[1] - firstLast[0]) / 1e9, (firstLast[1] - start) / 1e9, chars[0]);
        System.exit(0);
    }
}
