import com.almworks.sqlite4java.SQLiteConnection;
import com.almworks.sqlite4java.SQLiteJob;
import com.almworks.sqlite4java.SQLiteQueue;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
 * Starts DynamoDB Local (1) bound to 127.0.0.1, which its command line cannot ask for, and
 * (2) answering only after its SQLite work is committed. DynamoDB Local's commitTransaction
 * (TransactWriteItems, ExecuteTransaction) queues the COMMIT on its single SQLite thread and
 * returns without waiting, so a kill -9 right after the answer could roll back a write the
 * registry had acknowledged. The SQLite queue runs jobs in order, so before the last byte of
 * any answer that may have written this waits for an empty job queued behind everything
 * queued so far (reads skip it).
 */
public final class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Server server = (Server) field(proxy, "server");
        for (Connector c : server.getConnectors()) {
            ((ServerConnector) c).setHost("127.0.0.1");
        }
        server.setHandler(new CommitBarrier(server.getHandler(), field(proxy, "serverHandler")));
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

    static final class CommitBarrier extends Handler.Wrapper {
        private static final Set<String> READS = Set.of("GetItem", "BatchGetItem", "Query", "Scan",
                "TransactGetItems", "DescribeTable", "ListTables", "DescribeTimeToLive");
        private final Object serverHandler;

        CommitBarrier(Handler inner, Object serverHandler) {
            super(inner);
            this.serverHandler = serverHandler;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
            String target = request.getHeaders().get("X-Amz-Target");
            String action = target == null ? "" : target.substring(target.indexOf('.') + 1);
            if (READS.contains(action)) {
                return super.handle(request, response, callback);  // nothing to commit
            }
            Response barrier = new Response.Wrapper(request, response) {
                @Override
                public void write(boolean last, ByteBuffer content, Callback cb) {
                    if (last) {
                        awaitCommitted();
                    }
                    super.write(last, content, cb);
                }
            };
            return super.handle(request, barrier, callback);
        }

        /** Waits until every job queued on each database's SQLite thread so far has run. */
        private void awaitCommitted() {
            try {
                for (SQLiteQueue queue : queues()) {
                    queue.execute(new SQLiteJob<Object>() {
                        @Override
                        protected Object job(SQLiteConnection connection) {
                            return null;
                        }
                    }).complete();
                }
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("DynamoDB Local internals changed: " + e, e);
            }
        }

        // serverHandler.primaryHandler.dbRequestHandlers: one client per database file,
        // each holding its SQLiteDBAccess, whose queue is the database's only SQLite thread.
        private List<SQLiteQueue> queues() throws ReflectiveOperationException {
            Object requestHandler = field(serverHandler, "primaryHandler");
            Map<?, ?> clients = (Map<?, ?>) field(requestHandler, "dbRequestHandlers");
            List<SQLiteQueue> out = new ArrayList<>();
            for (Object client : clients.values().toArray()) {
                out.add((SQLiteQueue) field(field(client, "dbAccess"), "queue"));
            }
            return out;
        }
    }
}
