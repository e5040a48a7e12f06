package kafkachaos;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * A stateful Kafka Streams application for kafka-chaos: a count per key in a persistent state
 * store (with its changelog). Each input record adds one to its key's count and produces one
 * output record, same key, whose value names this instance's producer id and a sequence number
 * in the harness's value format (kc:PPPPPP:SSSSSSSSSSSS:000000000:) followed by the count.
 *
 * History: one JSON line per fact appended to kc.history, written (unbuffered) before the
 * output is forwarded, so an output in the log always has its line, even after SIGKILL:
 *   {"e":"read",...}   an input record processed (topic, partition, offset, key, its header ids)
 *   {"e":"out",...}    the output it produced: seq, key, count after it, the input it derives from
 *   {"e":"assign",...} a task (input partition) initialised: later reads are a new generation
 *   {"e":"restore",...} a store partition restored from its changelog: how many records
 *   {"e":"start"|"stop"|"error"|"state",...}
 * The harness converts the lines into the history format (harness/workload/streams.py).
 *
 * Usage: java -cp ... kafkachaos.CountApp app.properties (Kafka Streams settings, plus kc.*).
 */
public final class CountApp {
    static final String STORE = "counts";
    static final AtomicLong SEQ = new AtomicLong();
    static OutputStream history;

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            props.load(in);
        }
        String input = (String) props.remove("kc.input");
        String output = (String) props.remove("kc.output");
        int producer = Integer.parseInt((String) props.remove("kc.producer"));
        String historyPath = (String) props.remove("kc.history");
        long harnessPid = Long.parseLong((String) props.remove("kc.harness.pid"));
        history = new FileOutputStream(historyPath, true);

        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(STORE), Serdes.String(), Serdes.Long()));
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
                .process(() -> new Counter(producer), STORE)
                .to(output, Produced.with(Serdes.String(), Serdes.ByteArray()));

        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        CountDownLatch done = new CountDownLatch(1);
        int[] code = {0};
        streams.setUncaughtExceptionHandler(e -> {
            line("{\"e\":\"error\",\"detail\":" + quote(String.valueOf(e)) + times() + "}");
            code[0] = 1;
            done.countDown();
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            line("{\"e\":\"state\",\"detail\":" + quote(before + " -> " + now) + times() + "}");
            if (now == KafkaStreams.State.ERROR) {
                code[0] = 1;
                done.countDown();
            }
        });
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition partition, String store, long start, long end) {
            }

            @Override
            public void onBatchRestored(TopicPartition partition, String store, long batchEnd, long restored) {
            }

            @Override
            public void onRestoreEnd(TopicPartition partition, String store, long restored) {
                line("{\"e\":\"restore\",\"topic\":" + quote(partition.topic()) + ",\"partition\":"
                        + partition.partition() + ",\"restored\":" + restored + times() + "}");
            }
        });
        sun.misc.Signal.handle(new sun.misc.Signal("TERM"), s -> done.countDown());
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), s -> done.countDown());
        Thread watch = new Thread(() -> {  // a killed harness leaves no instance behind
            while (ProcessHandle.of(harnessPid).map(ProcessHandle::isAlive).orElse(false)) {
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    return;
                }
            }
            done.countDown();
        });
        watch.setDaemon(true);
        watch.start();

        line("{\"e\":\"start\"" + times() + "}");
        streams.start();
        done.await();
        streams.close(Duration.ofSeconds(60));
        line("{\"e\":\"stop\"" + times() + "}");
        history.close();
        System.exit(code[0]);
    }

    static final class Counter implements Processor<String, byte[], String, byte[]> {
        private final int producer;
        private ProcessorContext<String, byte[]> context;
        private KeyValueStore<String, Long> counts;

        Counter(int producer) {
            this.producer = producer;
        }

        @Override
        public void init(ProcessorContext<String, byte[]> context) {
            this.context = context;
            this.counts = context.getStateStore(STORE);
            line("{\"e\":\"assign\",\"partition\":" + context.taskId().partition() + times() + "}");
        }

        @Override
        public void process(Record<String, byte[]> record) {
            RecordMetadata meta = context.recordMetadata().orElseThrow();
            long[] ids = decode(record.value());
            String key = record.key();
            line("{\"e\":\"read\",\"topic\":" + quote(meta.topic()) + ",\"partition\":" + meta.partition()
                    + ",\"offset\":" + meta.offset() + ",\"key\":" + quote(key) + ",\"producer\":" + ids[0]
                    + ",\"seq\":" + ids[1] + ",\"txn\":" + ids[2] + times() + "}");
            if (key == null) {
                return;  // nothing to count under
            }
            Long before = counts.get(key);
            long count = (before == null ? 0 : before) + 1;
            counts.put(key, count);
            long seq = SEQ.getAndIncrement();
            String value = String.format("kc:%06d:%012d:%09d:count=%d", producer, seq, 0, count);
            line("{\"e\":\"out\",\"seq\":" + seq + ",\"key\":" + quote(key) + ",\"count\":" + count
                    + ",\"size\":" + value.length() + ",\"source_producer\":" + ids[0] + ",\"source_seq\":" + ids[1]
                    + times() + "}");
            context.forward(record.withValue(value.getBytes(StandardCharsets.US_ASCII)));
        }
    }

    /** (producer, seq, txn) of a harness value, -1s for anything else (harness/history/values.py). */
    static long[] decode(byte[] value) {
        long[] none = {-1, -1, -1};
        if (value == null || value.length < 33 || value[0] != 'k' || value[1] != 'c' || value[2] != ':'
                || value[9] != ':' || value[22] != ':' || value[32] != ':') {
            return none;
        }
        try {
            String s = new String(value, 0, 33, StandardCharsets.US_ASCII);
            return new long[] {Long.parseLong(s.substring(3, 9)), Long.parseLong(s.substring(10, 22)),
                    Long.parseLong(s.substring(23, 32))};
        } catch (NumberFormatException e) {
            return none;
        }
    }

    static String times() {
        return ",\"mono\":" + System.nanoTime() + ",\"wall\":" + (System.currentTimeMillis() * 1_000_000L);
    }

    static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    /** One history line, handed to the OS before the caller goes on (survives SIGKILL). */
    static synchronized void line(String json) {
        try {
            history.write((json + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new RuntimeException("cannot write the history", e);
        }
    }
}
