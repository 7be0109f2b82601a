import com.almworks.sqlite4java.SQLiteConnection;
import com.almworks.sqlite4java.SQLiteException;
import com.almworks.sqlite4java.SQLiteJob;
import com.almworks.sqlite4java.SQLiteQueue;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * Starts DynamoDB Local bound to 127.0.0.1 (its command line cannot ask for that) and makes
 * every answer to a write come after that write is committed in SQLite.
 *
 * DynamoDB Local runs all SQLite work as jobs on one thread per database file, in order.
 * Three gaps, each seen losing acknowledged writes after kill -9 (tests/e2e/test_dynamodb_commit.py):
 * 1. commitTransaction (TransactWriteItems, ExecuteTransaction) queues its COMMIT and answers
 *    without waiting for it: before the last byte of a write's answer we wait for an empty
 *    job queued behind everything so far.
 * 2. Its connection has no busy timeout, so a COMMIT fails at once while another process
 *    reads the file (`make backup`'s online copy); we give it one.
 * 3. That failure is dropped: the transaction stays open, and so does its "manual
 *    transaction" flag, so later writes are answered but never committed. After a
 *    transaction (holding its lock, so no other can be open) we check the connection: a
 *    transaction still open is committed now, or rolled back and the answer turned into
 *    a 500 the registry reports as 503.
 */
public final class LoopbackDynamoDBLocal {
    static final int BUSY_TIMEOUT_MS = 10_000;

    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Server server = (Server) field(proxy, "server");
        for (Connector c : server.getConnectors()) {
            ((ServerConnector) c).setHost("127.0.0.1");
        }
        // serverHandler.primaryHandler.dbRequestHandlers: one client per database file (made on
        // its first request), each holding its SQLiteDBAccess with the queue and the lock.
        Map<?, ?> clients = (Map<?, ?>) field(field(field(proxy, "serverHandler"), "primaryHandler"),
                "dbRequestHandlers");
        server.setHandler(new CommitBarrier(server.getHandler(), clients));
        proxy.start();
        proxy.join();
    }

    static Object field(Object owner, String name) throws ReflectiveOperationException {
        for (Class<?> c = owner.getClass(); c != null; c = c.getSuperclass()) {
            try {
                Field f = c.getDeclaredField(name);
                f.setAccessible(true);
                return f.get(owner);
            } catch (NoSuchFieldException e) {
                // declared higher up
            }
        }
        throw new NoSuchFieldException(owner.getClass().getName() + "." + name);
    }

    /** One database file: its SQLite thread and the lock its transactions hold. */
    record Database(SQLiteQueue queue, ReentrantReadWriteLock lock) {}

    static final class CommitBarrier extends Handler.Wrapper {
        private static final Set<String> READS = Set.of("GetItem", "BatchGetItem", "Query", "Scan",
                "TransactGetItems", "DescribeTable", "ListTables", "DescribeTimeToLive");
        private static final Set<String> TRANSACTIONS = Set.of("TransactWriteItems", "ExecuteTransaction");
        private static final byte[] FAILED = ("{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\","
                + "\"message\":\"the transaction could not be committed\"}").getBytes(StandardCharsets.UTF_8);

        private final Map<?, ?> clients;
        private final Map<Object, Database> databases = new ConcurrentHashMap<>();

        CommitBarrier(Handler inner, Map<?, ?> clients) {
            super(inner);
            this.clients = clients;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
            String target = request.getHeaders().get("X-Amz-Target");
            String action = target == null ? "" : target.substring(target.indexOf('.') + 1);
            boolean read = READS.contains(action);
            boolean transaction = TRANSACTIONS.contains(action);
            Response barrier = new Response.Wrapper(request, response) {
                @Override
                public void write(boolean last, ByteBuffer content, Callback cb) {
                    if (last && !settle(read, transaction)) {
                        setStatus(500);
                        getHeaders().put(HttpHeader.CONTENT_LENGTH, FAILED.length);
                        content = ByteBuffer.wrap(FAILED);
                    }
                    super.write(last, content, cb);
                }
            };
            return super.handle(request, barrier, callback);
        }

        /** Whether everything this request wrote is committed (waiting until it is). */
        private boolean settle(boolean read, boolean transaction) {
            try {
                List<Database> dbs = databases();
                if (read) {
                    return true;
                }
                boolean ok = true;
                for (Database db : dbs) {
                    ok &= transaction ? checkedCommit(db) : drain(db.queue());
                }
                return ok;
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("DynamoDB Local internals changed: " + e, e);
            }
        }

        private static boolean drain(SQLiteQueue queue) {
            queue.execute(new SQLiteJob<Object>() {
                @Override
                protected Object job(SQLiteConnection connection) {
                    return null;
                }
            }).complete();
            return true;
        }

        /** With the transaction lock held, no transaction may be open once the queue drains. */
        private static boolean checkedCommit(Database db) {
            Lock lock = db.lock().writeLock();
            lock.lock();
            try {
                Boolean ok = db.queue().execute(new SQLiteJob<Boolean>() {
                    @Override
                    protected Boolean job(SQLiteConnection connection) throws Throwable {
                        if (connection.getAutoCommit()) {
                            return true;
                        }
                        boolean committed;
                        try {
                            connection.exec("COMMIT");
                            committed = true;
                        } catch (SQLiteException e) {
                            connection.exec("ROLLBACK");
                            committed = false;
                        }
                        manualTransactions().set(Boolean.FALSE);
                        return committed;
                    }
                }).complete();
                return Boolean.TRUE.equals(ok);
            } finally {
                lock.unlock();
            }
        }

        @SuppressWarnings("unchecked")
        private static ThreadLocal<Boolean> manualTransactions() throws ReflectiveOperationException {
            Field f = Class.forName("software.amazon.dynamodb.services.local.shared.access.sqlite."
                    + "AmazonDynamoDBOfflineSQLiteJob").getDeclaredField("manualTransactionsEnabled");
            f.setAccessible(true);
            return (ThreadLocal<Boolean>) f.get(null);
        }

        /** Each database's queue and lock; its connection gets the busy timeout when first seen. */
        private List<Database> databases() throws ReflectiveOperationException {
            List<Database> out = new ArrayList<>();
            for (Object client : clients.values().toArray()) {
                Database db = databases.get(client);
                if (db == null) {
                    Object access = field(client, "dbAccess");
                    db = new Database((SQLiteQueue) field(access, "queue"),
                            (ReentrantReadWriteLock) field(access, "queueLock"));
                    db.queue().execute(new SQLiteJob<Object>() {
                        @Override
                        protected Object job(SQLiteConnection connection) throws SQLiteException {
                            connection.setBusyTimeout(BUSY_TIMEOUT_MS);
                            return null;
                        }
                    }).complete();
                    databases.put(client, db);
                }
                out.add(db);
            }
            return out;
        }
    }
}
