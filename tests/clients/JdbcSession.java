// A pgjdbc (PostgreSQL's JDBC driver, unchanged) session against a Blueshift leader, doing
// what DBeaver does on connect and browse: connect with a password, DDL, a PreparedStatement
// reused past the driver's server-prepare threshold (typed parameters and NULLs), a
// parameterised query read back in text and binary, ResultSetMetaData, autocommit off with
// commit and rollback, a fetch-size cursor, a batch, timestamptz in a client zone that is not
// UTC, and the DatabaseMetaData calls a schema browser makes. One line per step; exits
// non-zero naming every step that differed (each step lists all of its differences).
//
//     java -cp /usr/share/java/postgresql.jar JdbcSession.java \
//         jdbc:postgresql://127.0.0.1:PORT/dev admin PASSWORD
//
// (Java 11+ source launcher; Debian: openjdk-17-jdk-headless, libpostgresql-jdbc-java.)
//
// KNOWN_FAILING names the steps that fail against Blueshift today: they still run, print
// "xfail" and do not fail the session. When a fix lands, the step passes, prints "XPASS" and
// fails the session until its name is taken off the list. JDBC_SESSION_STRICT=1 treats every
// step as required. JDBC_SESSION_TRACE=1 logs every protocol message the driver sends and
// receives (the exact SQL of each catalog query and the server's error) to stderr.
// Against PostgreSQL itself every step passes (checked on 15 with JDBC_SESSION_STRICT=1).

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TimeZone;
import java.util.TreeSet;
import java.util.logging.ConsoleHandler;
import java.util.logging.Level;
import java.util.logging.Logger;

public class JdbcSession {
    static final Set<String> KNOWN_FAILING = Set.of(
            // no ParameterStatus(application_name) after SET application_name
            "application name",
            // the startup packet's TimeZone is not applied (show timezone: UTC)
            "client time zone",
            // cast(... as timestamptz) is typed timestamp (1114), written without an offset
            "timestamptz",
            // RowDescription: varchar as text, typmod -1, table oid 0, column number 0
            "resultset metadata",
            // a view's pg_attribute: varchar(20) as text, numeric(12,2) without typmod
            "getColumns view",
            // conkey/confkey text; no pg_constraint FK rows
            "getImportedKeys",
            "getExportedKeys",
            // pg_get_indexdef(index, column, false) is NULL
            "getIndexInfo"
    );

    static {
        // A client whose zone is not UTC (set before any Date/Timestamp below is made):
        // pgjdbc sends it as TimeZone at startup and writes setTimestamp/setDate values with
        // its offset, which a TIMESTAMP or DATE column ignores.
        TimeZone.setDefault(TimeZone.getTimeZone("America/New_York"));
    }

    static final String T = "jdbc_session_t";        // the table a browser opens
    static final String CHILD = "jdbc_session_child"; // references T: imported/exported keys
    static final String V = "jdbc_session_v";

    static Connection c;
    static String url, user, password;
    static final List<String> failed = new ArrayList<>();
    static final List<String> mismatches = new ArrayList<>();
    static final boolean STRICT = "1".equals(System.getenv("JDBC_SESSION_STRICT"));

    interface Body { void run() throws Exception; }

    static void step(String name, Body body) {
        boolean known = KNOWN_FAILING.contains(name) && !STRICT;
        mismatches.clear();
        try {
            body.run();
            if (!mismatches.isEmpty()) {
                List<String> shown = mismatches.subList(0, Math.min(mismatches.size(), 12));
                throw new AssertionError(String.join("; ", shown)
                        + (mismatches.size() > shown.size() ? "; ... (" + (mismatches.size() - shown.size()) + " more)" : ""));
            }
            if (known) {
                System.out.println("XPASS " + name + " (now passes: take it off KNOWN_FAILING)");
                failed.add(name + " (XPASS)");
            } else {
                System.out.println("ok    " + name);
            }
        } catch (Throwable e) {
            String msg = describe(e);
            if (known) {
                System.out.println("xfail " + name + ": " + msg);
            } else {
                System.out.println("FAIL  " + name + ": " + msg);
                failed.add(name);
            }
            reset();
        }
    }

    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        if (e instanceof SQLException && ((SQLException) e).getSQLState() != null) {
            sb.append('[').append(((SQLException) e).getSQLState()).append("] ");
        }
        sb.append(e instanceof AssertionError ? e.getMessage() : e.toString().replace('\n', ' '));
        return sb.toString();
    }

    /** After a failure: no open transaction is left for the next step. */
    static void reset() {
        try {
            if (c != null && !c.isClosed() && !c.getAutoCommit()) {
                c.rollback();
                c.setAutoCommit(true);
            }
        } catch (SQLException ignored) {
        }
    }

    /** Records a difference and carries on, so a step reports all of its differences. */
    static void check(String what, Object got, Object want) {
        if (!Objects.equals(got, want)) {
            mismatches.add(what + ": got " + show(got) + ", want " + show(want));
        }
    }

    static void mismatch(String what) {
        mismatches.add(what);
    }

    static String show(Object o) {
        return o == null ? "null" : o instanceof String ? "'" + o + "'" : o + " (" + o.getClass().getSimpleName() + ")";
    }

    static void exec(String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    static long count(String where) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select count(*) from " + T + " " + where)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** Every row of a metadata result set as column label -> string value. */
    static List<Map<String, String>> rows(ResultSet rs) throws SQLException {
        List<Map<String, String>> out = new ArrayList<>();
        try (rs) {
            ResultSetMetaData md = rs.getMetaData();
            while (rs.next()) {
                Map<String, String> row = new LinkedHashMap<>();
                for (int i = 1; i <= md.getColumnCount(); i++) {
                    row.put(md.getColumnLabel(i).toUpperCase(), rs.getString(i));
                }
                out.add(row);
            }
        }
        return out;
    }

    static List<String> column(List<Map<String, String>> rows, String label) {
        List<String> out = new ArrayList<>();
        for (Map<String, String> r : rows) out.add(r.get(label));
        return out;
    }

    static Map<String, String> only(List<Map<String, String>> rows, String what) {
        if (rows.size() != 1) throw new AssertionError(what + ": got " + rows.size() + " rows, want 1: " + rows);
        return rows.get(0);
    }

    static Map<String, String> find(List<Map<String, String>> rows, String label, String value, String what) {
        for (Map<String, String> r : rows) if (value.equals(r.get(label))) return r;
        throw new AssertionError(what + ": no row with " + label + "=" + value + " in " + column(rows, label));
    }

    // The rows the session writes: id, name, amount, qty, d, ts, flag (nulls included).
    static final Object[][] ROWS = {
            {1, "alpha", new BigDecimal("12.34"), 7, Date.valueOf("2024-05-06"), Timestamp.valueOf("2024-05-06 07:08:09.123456"), true},
            {2, "beta", new BigDecimal("-0.50"), null, Date.valueOf("1999-12-31"), Timestamp.valueOf("1999-12-31 23:59:59"), false},
            {3, "gamma", null, 0, null, null, null},
            {4, "delta", new BigDecimal("9999999999.99"), -2147483648, Date.valueOf("2000-02-29"), Timestamp.valueOf("2000-02-29 12:00:00.5"), true},
            {5, "épsilon ☃", new BigDecimal("0.01"), 2147483647, Date.valueOf("1970-01-01"), Timestamp.valueOf("1970-01-01 00:00:00"), false},
            {6, "zeta", new BigDecimal("100.00"), 6, Date.valueOf("2038-01-19"), Timestamp.valueOf("2038-01-19 03:14:08"), true},
            {7, "eta", new BigDecimal("7.70"), 7, Date.valueOf("2024-02-29"), Timestamp.valueOf("2024-02-29 23:00:00"), null},
    };

    static void bind(PreparedStatement ps, Object[] r) throws SQLException {
        ps.setInt(1, (Integer) r[0]);
        ps.setString(2, (String) r[1]);
        if (r[2] == null) ps.setNull(3, Types.NUMERIC); else ps.setBigDecimal(3, (BigDecimal) r[2]);
        if (r[3] == null) ps.setNull(4, Types.INTEGER); else ps.setInt(4, (Integer) r[3]);
        if (r[4] == null) ps.setNull(5, Types.DATE); else ps.setDate(5, (Date) r[4]);
        if (r[5] == null) ps.setNull(6, Types.TIMESTAMP); else ps.setTimestamp(6, (Timestamp) r[5]);
        if (r[6] == null) ps.setNull(7, Types.BOOLEAN); else ps.setBoolean(7, (Boolean) r[6]);
    }

    /** Reads the current row back through the typed getters and compares with r. */
    static void checkRow(ResultSet rs, Object[] r, String how) throws SQLException {
        String w = how + " id " + r[0] + " ";
        check(w + "id", rs.getInt("id"), r[0]);
        check(w + "name", rs.getString("name"), r[1]);
        check(w + "amount", rs.getBigDecimal("amount"), r[2]);
        int qty = rs.getInt("qty");
        check(w + "qty", rs.wasNull() ? null : qty, r[3]);
        check(w + "d", rs.getDate("d"), r[4]);
        check(w + "ts", rs.getTimestamp("ts"), r[5]);
        boolean flag = rs.getBoolean("flag");
        check(w + "flag", rs.wasNull() ? null : flag, r[6]);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: java -cp postgresql.jar JdbcSession.java <jdbc-url> <user> <password>");
            System.exit(2);
        }
        url = args[0];
        user = args[1];
        password = args[2];
        if ("1".equals(System.getenv("JDBC_SESSION_TRACE"))) {
            Logger log = Logger.getLogger("org.postgresql");
            ConsoleHandler h = new ConsoleHandler();
            h.setLevel(Level.FINEST);
            log.addHandler(h);
            log.setLevel(Level.FINEST);
        }
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("ApplicationName", "JdbcSession");
        c = DriverManager.getConnection(url, p); // a failure here ends the session
        System.out.println("ok    connect (" + c.getMetaData().getDriverName() + " " + c.getMetaData().getDriverVersion() + ")");
        DatabaseMetaData md = c.getMetaData();

        step("product name and version", () -> {
            check("getDatabaseProductName", md.getDatabaseProductName(), "PostgreSQL");
            String v = md.getDatabaseProductVersion();
            if (v == null || !v.matches("\\d+\\.\\d+.*")) throw new AssertionError("getDatabaseProductVersion: " + show(v));
            check("getDatabaseMajorVersion", md.getDatabaseMajorVersion() >= 8, true);
            check("getUserName", md.getUserName(), user);
            check("getURL", md.getURL(), url);
        });

        step("session state", () -> {
            // What DBeaver asks right after connecting.
            check("isValid", c.isValid(5), true);
            check("getCatalog", c.getCatalog(), "dev");
            check("getSchema", c.getSchema(), "public");
            int iso = c.getTransactionIsolation();
            if (iso == Connection.TRANSACTION_NONE) throw new AssertionError("getTransactionIsolation: NONE");
            c.setReadOnly(true);
            check("isReadOnly", c.isReadOnly(), true);
            c.setReadOnly(false);
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select current_database(), current_user, version()")) {
                rs.next();
                check("current_database()", rs.getString(1), "dev");
                check("current_user", rs.getString(2), user);
            }
        });

        step("application name", () -> {
            // pgjdbc sends SET application_name and keeps the value the server reports back
            // in ParameterStatus (application_name is GUC_REPORT in PostgreSQL).
            c.setClientInfo("ApplicationName", "DBeaver 24.1.0 - Main");
            check("getClientInfo(ApplicationName)", c.getClientInfo("ApplicationName"), "DBeaver 24.1.0 - Main");
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select current_setting('application_name')")) {
                rs.next();
                check("current_setting('application_name')", rs.getString(1), "DBeaver 24.1.0 - Main");
            }
        });

        step("client time zone", () -> {
            // pgjdbc sends the JVM's zone as TimeZone in the startup packet.
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("show timezone")) {
                rs.next();
                check("show timezone (startup TimeZone)", rs.getString(1), "America/New_York");
            }
        });

        step("timestamptz", () -> {
            // pgjdbc reads a timestamptz by the offset the server writes: an instant must
            // come back as that instant whatever the session's zone.
            java.time.Instant instant = java.time.Instant.parse("2024-05-06T07:08:09Z");
            try (Statement s = c.createStatement()) {
                s.execute("drop table if exists jdbc_session_tz");
                s.execute("create table jdbc_session_tz (id int, at timestamptz)");
                try (PreparedStatement ps = c.prepareStatement("insert into jdbc_session_tz values (?, ?)")) {
                    ps.setInt(1, 1);
                    ps.setTimestamp(2, Timestamp.from(instant)); // sent as local time with its offset
                    ps.executeUpdate();
                }
                try (ResultSet rs = s.executeQuery("select at from jdbc_session_tz")) {
                    rs.next();
                    check("timestamptz column type", rs.getMetaData().getColumnTypeName(1), "timestamptz");
                    check("timestamptz column instant", rs.getTimestamp(1).toInstant(), instant);
                }
                try (ResultSet rs = s.executeQuery("select cast('2024-05-06 07:08:09+00' as timestamptz)")) {
                    rs.next();
                    check("cast(... as timestamptz) type", rs.getMetaData().getColumnTypeName(1), "timestamptz");
                    check("cast(... as timestamptz) instant", rs.getTimestamp(1).toInstant(), instant);
                }
                s.execute("drop table jdbc_session_tz");
            }
        });

        step("create table and view", () -> {
            exec("drop view if exists " + V);
            exec("drop table if exists " + CHILD);
            exec("drop table if exists " + T);
            exec("create table " + T + " (id int primary key, name varchar(20) not null, amount numeric(12,2),"
                    + " qty int, d date, ts timestamp, flag bool)");
            exec("create table " + CHILD + " (cid int not null, parent_id int, note varchar(10),"
                    + " primary key (cid), foreign key (parent_id) references " + T + " (id))");
            exec("create view " + V + " as select id, name, amount from " + T + " where flag");
        });

        step("prepared insert", () -> {
            // pgjdbc switches to a named server-side statement (and binary results) on the
            // 5th execution (prepareThreshold=5): run it more often than that.
            try (PreparedStatement ps = c.prepareStatement(
                    "insert into " + T + " (id, name, amount, qty, d, ts, flag) values (?, ?, ?, ?, ?, ?, ?)")) {
                for (Object[] r : ROWS) {
                    bind(ps, r);
                    check("insert " + r[0] + " update count", ps.executeUpdate(), 1);
                }
            }
            check("count(*)", count(""), (long) ROWS.length);
        });

        step("prepared query", () -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "select id, name, amount, qty, d, ts, flag from " + T + " where id = ? and name <> ?")) {
                for (int run = 0; run < 7; run++) { // unnamed statements first, then S_n (5th run on)
                    for (Object[] r : ROWS) {
                        ps.setInt(1, (Integer) r[0]);
                        ps.setString(2, "nobody");
                        try (ResultSet rs = ps.executeQuery()) {
                            check("row " + r[0] + " found (run " + run + ")", rs.next(), true);
                            checkRow(rs, r, "run " + run);
                            check("one row", rs.next(), false);
                        }
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement(
                    "select id from " + T + " where amount > ? and d >= ? and ts < ? and flag = ? order by id")) {
                ps.setBigDecimal(1, new BigDecimal("1.00"));
                ps.setDate(2, Date.valueOf("2000-01-01"));
                ps.setTimestamp(3, Timestamp.valueOf("2030-01-01 00:00:00"));
                ps.setBoolean(4, true);
                List<Integer> ids = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) ids.add(rs.getInt(1));
                }
                check("ids by typed predicates", ids, List.of(1, 4));
            }
        });

        step("binary results", () -> {
            // prepareThreshold=-1: pgjdbc prepares on the server at once, describes the
            // statement, and asks for int4/numeric/date/timestamp/... results in binary.
            Properties bp = new Properties();
            bp.setProperty("user", user);
            bp.setProperty("password", password);
            bp.setProperty("prepareThreshold", "-1");
            try (Connection bc = DriverManager.getConnection(url, bp);
                 PreparedStatement ps = bc.prepareStatement("select id, name, amount, qty, d, ts, flag from " + T + " where id = ?")) {
                for (Object[] r : ROWS) {
                    ps.setInt(1, (Integer) r[0]);
                    try (ResultSet rs = ps.executeQuery()) {
                        check("row " + r[0] + " found", rs.next(), true);
                        checkRow(rs, r, "binary");
                    }
                }
            }
        });

        step("resultset metadata", () -> {
            // DBeaver's result grid: column types, sizes, nullability, base table.
            try (PreparedStatement ps = c.prepareStatement("select id, name, amount, qty, d, ts, flag from " + T + " where id = ?")) {
                ps.setInt(1, 1);
                try (ResultSet rs = ps.executeQuery()) {
                    ResultSetMetaData m = rs.getMetaData();
                    check("column count", m.getColumnCount(), 7);
                    String[] types = {"int4", "varchar", "numeric", "int4", "date", "timestamp", "bool"};
                    for (int i = 0; i < types.length; i++) check("getColumnTypeName(" + (i + 1) + ")", m.getColumnTypeName(i + 1), types[i]);
                    check("getColumnType(name)", m.getColumnType(2), Types.VARCHAR);
                    check("getPrecision(name)", m.getPrecision(2), 20);
                    check("getPrecision(amount)", m.getPrecision(3), 12);
                    check("getScale(amount)", m.getScale(3), 2);
                    check("getColumnClassName(amount)", m.getColumnClassName(3), "java.math.BigDecimal");
                    // These ask the server (pg_class/pg_attribute by the table oid and
                    // column number in RowDescription).
                    org.postgresql.PGResultSetMetaData pm = m.unwrap(org.postgresql.PGResultSetMetaData.class);
                    check("getBaseTableName(id)", pm.getBaseTableName(1), T);
                    check("getBaseSchemaName(id)", pm.getBaseSchemaName(1), "public");
                    check("getBaseColumnName(amount)", pm.getBaseColumnName(3), "amount");
                    check("isNullable(name)", m.isNullable(2), ResultSetMetaData.columnNoNulls);
                    check("isNullable(amount)", m.isNullable(3), ResultSetMetaData.columnNullable);
                    check("isAutoIncrement(id)", m.isAutoIncrement(1), false);
                }
            }
        });

        step("commit and rollback", () -> {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("insert into " + T + " (id, name, qty) values (?, ?, ?)")) {
                ps.setInt(1, 100);
                ps.setString(2, "committed");
                ps.setInt(3, 1);
                ps.executeUpdate();
                c.commit();
                ps.setInt(1, 101);
                ps.setString(2, "rolled back");
                ps.setInt(3, 2);
                ps.executeUpdate();
                exec("update " + T + " set qty = 999 where id = 100");
                exec("delete from " + T + " where id = 1");
                check("own insert visible before rollback", count("where id = 101"), 1L);
                c.rollback();
            }
            c.setAutoCommit(true);
            check("committed row", count("where id = 100 and qty = 1"), 1L);
            check("rolled-back insert", count("where id = 101"), 0L);
            check("rolled-back update", count("where qty = 999"), 0L);
            check("rolled-back delete", count("where id = 1"), 1L);
            // Seen from another session too.
            try (Connection other = DriverManager.getConnection(url, user, password);
                 Statement s = other.createStatement();
                 ResultSet rs = s.executeQuery("select count(*) from " + T + " where id in (100, 101)")) {
                rs.next();
                check("other session sees the commit only", rs.getLong(1), 1L);
            }
            exec("delete from " + T + " where id = 100");
        });

        step("fetch size cursor", () -> {
            // DBeaver reads results in pages (fetch size 200) inside a transaction: pgjdbc
            // then executes a named portal with a row limit and resumes it (PortalSuspended).
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("select id from " + T + " order by id")) {
                ps.setFetchSize(2);
                List<Integer> ids = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) ids.add(rs.getInt(1));
                }
                check("ids fetched two at a time", ids, List.of(1, 2, 3, 4, 5, 6, 7));
            }
            c.commit();
            c.setAutoCommit(true);
        });

        step("batch insert", () -> {
            // DBeaver saves edited grid rows as a batch.
            try (PreparedStatement ps = c.prepareStatement("insert into " + CHILD + " (cid, parent_id, note) values (?, ?, ?)")) {
                for (int i = 1; i <= 3; i++) {
                    ps.setInt(1, i);
                    ps.setInt(2, i);
                    if (i == 2) ps.setNull(3, Types.VARCHAR); else ps.setString(3, "n" + i);
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                check("batch size", counts.length, 3);
                for (int n : counts) if (n != 1 && n != Statement.SUCCESS_NO_INFO) throw new AssertionError("batch update count " + n);
            }
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select count(*), count(note) from " + CHILD)) {
                rs.next();
                check("child rows", rs.getLong(1), 3L);
                check("child notes", rs.getLong(2), 2L);
            }
        });

        step("getTables", () -> {
            List<Map<String, String>> rows = rows(md.getTables(null, "public", "jdbc_session%", new String[]{"TABLE", "VIEW"}));
            Map<String, String> types = new LinkedHashMap<>();
            for (Map<String, String> r : rows) types.put(r.get("TABLE_NAME"), r.get("TABLE_TYPE"));
            check("tables and views", types, Map.of(CHILD, "TABLE", T, "TABLE", V, "VIEW"));
            Map<String, String> t = find(rows, "TABLE_NAME", T, "getTables");
            check("TABLE_SCHEM", t.get("TABLE_SCHEM"), "public");
            // All types, as DBeaver asks (types = null): PostgreSQL lists the primary keys'
            // indexes too (TABLE_TYPE INDEX), so only tables and views are compared.
            Set<String> all = new TreeSet<>();
            for (Map<String, String> r : rows(md.getTables(null, null, "jdbc_session%", null))) {
                if (!"INDEX".equals(r.get("TABLE_TYPE"))) all.add(r.get("TABLE_NAME") + ":" + r.get("TABLE_TYPE"));
            }
            check("getTables(null types)", all, new TreeSet<>(List.of(CHILD + ":TABLE", T + ":TABLE", V + ":VIEW")));
            check("getTables(VIEW)", column(rows(md.getTables(null, "public", "%", new String[]{"VIEW"})).stream()
                    .filter(r -> r.get("TABLE_NAME").startsWith("jdbc_session")).collect(java.util.stream.Collectors.toList()), "TABLE_NAME"), List.of(V));
        });

        step("getColumns", () -> {
            List<Map<String, String>> rows = rows(md.getColumns(null, "public", T, null));
            check("column names", column(rows, "COLUMN_NAME"), List.of("id", "name", "amount", "qty", "d", "ts", "flag"));
            check("ORDINAL_POSITION", column(rows, "ORDINAL_POSITION"), List.of("1", "2", "3", "4", "5", "6", "7"));
            check("TYPE_NAME", column(rows, "TYPE_NAME"), List.of("int4", "varchar", "numeric", "int4", "date", "timestamp", "bool"));
            check("DATA_TYPE", column(rows, "DATA_TYPE"), List.of(
                    "" + Types.INTEGER, "" + Types.VARCHAR, "" + Types.NUMERIC, "" + Types.INTEGER,
                    "" + Types.DATE, "" + Types.TIMESTAMP, "" + Types.BIT));
            Map<String, String> name = rows.get(1), amount = rows.get(2), id = rows.get(0);
            check("name COLUMN_SIZE", name.get("COLUMN_SIZE"), "20");
            check("amount COLUMN_SIZE", amount.get("COLUMN_SIZE"), "12");
            check("amount DECIMAL_DIGITS", amount.get("DECIMAL_DIGITS"), "2");
            check("id COLUMN_SIZE", id.get("COLUMN_SIZE"), "10");
            check("name NULLABLE", name.get("NULLABLE"), "" + DatabaseMetaData.columnNoNulls);
            check("name IS_NULLABLE", name.get("IS_NULLABLE"), "NO");
            check("id IS_NULLABLE (primary key)", id.get("IS_NULLABLE"), "NO");
            check("amount IS_NULLABLE", amount.get("IS_NULLABLE"), "YES");
            check("IS_AUTOINCREMENT", column(rows, "IS_AUTOINCREMENT"), List.of("NO", "NO", "NO", "NO", "NO", "NO", "NO"));
            check("COLUMN_DEF", column(rows, "COLUMN_DEF"), java.util.Collections.nCopies(7, null));
            check("one column by pattern", column(rows(md.getColumns(null, "public", T, "am%")), "COLUMN_NAME"), List.of("amount"));
        });

        step("getColumns view", () -> {
            List<Map<String, String>> rows = rows(md.getColumns(null, "public", V, null));
            check("view columns", column(rows, "COLUMN_NAME"), List.of("id", "name", "amount"));
            check("view TYPE_NAME", column(rows, "TYPE_NAME"), List.of("int4", "varchar", "numeric"));
            check("view name COLUMN_SIZE", rows.get(1).get("COLUMN_SIZE"), "20");
            check("view amount COLUMN_SIZE", rows.get(2).get("COLUMN_SIZE"), "12");
            check("view amount DECIMAL_DIGITS", rows.get(2).get("DECIMAL_DIGITS"), "2");
        });

        step("getPrimaryKeys", () -> {
            Map<String, String> pk = only(rows(md.getPrimaryKeys(null, "public", T)), "getPrimaryKeys");
            check("COLUMN_NAME", pk.get("COLUMN_NAME"), "id");
            check("KEY_SEQ", pk.get("KEY_SEQ"), "1");
            check("TABLE_NAME", pk.get("TABLE_NAME"), T);
            if (pk.get("PK_NAME") == null) mismatch("PK_NAME is null");
            Map<String, String> cpk = only(rows(md.getPrimaryKeys(null, "public", CHILD)), "getPrimaryKeys(child)");
            check("child COLUMN_NAME", cpk.get("COLUMN_NAME"), "cid");
        });

        step("getSchemas", () -> {
            List<String> schemas = column(rows(md.getSchemas()), "TABLE_SCHEM");
            for (String s : List.of("public", "pg_catalog", "information_schema")) {
                if (!schemas.contains(s)) mismatch("getSchemas: no " + s + " in " + schemas);
            }
            check("getSchemas(null, public)", column(rows(md.getSchemas(null, "public")), "TABLE_SCHEM"), List.of("public"));
        });

        step("getCatalogs", () -> {
            List<String> cats = column(rows(md.getCatalogs()), "TABLE_CAT");
            if (!cats.contains("dev")) mismatch("getCatalogs: no dev in " + cats);
        });

        step("getTableTypes", () -> {
            List<String> types = column(rows(md.getTableTypes()), "TABLE_TYPE");
            for (String s : List.of("TABLE", "VIEW")) if (!types.contains(s)) mismatch("getTableTypes: no " + s + " in " + types);
        });

        step("getImportedKeys", () -> {
            Map<String, String> fk = only(rows(md.getImportedKeys(null, "public", CHILD)), "getImportedKeys(child)");
            check("PKTABLE_NAME", fk.get("PKTABLE_NAME"), T);
            check("PKCOLUMN_NAME", fk.get("PKCOLUMN_NAME"), "id");
            check("FKTABLE_NAME", fk.get("FKTABLE_NAME"), CHILD);
            check("FKCOLUMN_NAME", fk.get("FKCOLUMN_NAME"), "parent_id");
            check("KEY_SEQ", fk.get("KEY_SEQ"), "1");
            check("getImportedKeys(parent)", rows(md.getImportedKeys(null, "public", T)).size(), 0);
        });

        step("getExportedKeys", () -> {
            Map<String, String> fk = only(rows(md.getExportedKeys(null, "public", T)), "getExportedKeys(parent)");
            check("FKTABLE_NAME", fk.get("FKTABLE_NAME"), CHILD);
            check("FKCOLUMN_NAME", fk.get("FKCOLUMN_NAME"), "parent_id");
        });

        step("getIndexInfo", () -> {
            // PostgreSQL lists the primary key's unique index (jdbc_session_t_pkey on id).
            List<Map<String, String>> rows = rows(md.getIndexInfo(null, "public", T, false, true));
            Map<String, String> pk = only(rows, "getIndexInfo");
            check("COLUMN_NAME", pk.get("COLUMN_NAME"), "id");
            check("NON_UNIQUE", pk.get("NON_UNIQUE"), "f"); // a boolean, read with getString
            check("ORDINAL_POSITION", pk.get("ORDINAL_POSITION"), "1");
            check("getIndexInfo(unique only)", rows(md.getIndexInfo(null, "public", T, true, true)).size(), 1);
        });

        step("getTablePrivileges", () -> {
            // The owner holds every privilege (PostgreSQL: SELECT INSERT UPDATE DELETE
            // TRUNCATE REFERENCES TRIGGER), granted by itself.
            List<Map<String, String>> rows = rows(md.getTablePrivileges(null, "public", T));
            Set<String> mine = new TreeSet<>();
            for (Map<String, String> r : rows) {
                check("TABLE_NAME", r.get("TABLE_NAME"), T);
                if (user.equals(r.get("GRANTEE"))) mine.add(r.get("PRIVILEGE"));
            }
            for (String priv : List.of("SELECT", "INSERT", "UPDATE", "DELETE")) {
                if (!mine.contains(priv)) mismatch("getTablePrivileges: " + user + " lacks " + priv + ": " + rows);
            }
        });

        step("getColumnPrivileges", () -> {
            Set<String> mine = new TreeSet<>();
            for (Map<String, String> r : rows(md.getColumnPrivileges(null, "public", T, "%"))) {
                if ("name".equals(r.get("COLUMN_NAME")) && user.equals(r.get("GRANTEE"))) mine.add(r.get("PRIVILEGE"));
            }
            for (String priv : List.of("SELECT", "INSERT", "UPDATE")) {
                if (!mine.contains(priv)) mismatch("getColumnPrivileges: " + user + " lacks " + priv + " on name: " + mine);
            }
        });

        step("getFunctions", () -> {
            List<Map<String, String>> rows = rows(md.getFunctions(null, "pg_catalog", "lower"));
            if (rows.isEmpty()) throw new AssertionError("getFunctions(pg_catalog, lower): no rows");
            check("FUNCTION_NAME", rows.get(0).get("FUNCTION_NAME"), "lower");
            rows(md.getFunctions(null, "public", "%")); // DBeaver's browse of a schema: no user functions here
            rows(md.getFunctionColumns(null, "pg_catalog", "lower", null));
        });

        step("getProcedures", () -> {
            rows(md.getProcedures(null, "public", "%"));
            rows(md.getProcedureColumns(null, "public", "%", null));
        });

        step("getTypeInfo", () -> {
            List<String> names = column(rows(md.getTypeInfo()), "TYPE_NAME");
            for (String s : List.of("int4", "varchar", "numeric", "date", "timestamp", "bool")) {
                if (!names.contains(s)) mismatch("getTypeInfo: no " + s);
            }
        });

        step("getBestRowIdentifier", () -> {
            // The primary key identifies a row.
            Map<String, String> r = only(rows(md.getBestRowIdentifier(null, "public", T, DatabaseMetaData.bestRowSession, true)), "getBestRowIdentifier");
            check("COLUMN_NAME", r.get("COLUMN_NAME"), "id");
            check("TYPE_NAME", r.get("TYPE_NAME"), "int4");
        });

        step("getUDTs", () -> rows(md.getUDTs(null, "public", "%", null)));

        step("drop", () -> {
            exec("drop table if exists jdbc_session_tz");
            exec("drop view " + V);
            exec("drop table " + CHILD);
            exec("drop table " + T);
            check("getTables after drop", rows(md.getTables(null, "public", "jdbc_session%", null)).size(), 0);
        });

        c.close();
        if (!failed.isEmpty()) {
            System.out.println("FAILED: " + String.join(", ", failed));
            System.exit(1);
        }
        System.out.println("all steps ok" + (STRICT || KNOWN_FAILING.isEmpty() ? "" : " (" + KNOWN_FAILING.size() + " known failing)"));
    }
}
