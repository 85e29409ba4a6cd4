//! Store files (SPEC §2 "Durability and files"): what is written survives a reopen, ids keep
//! increasing across reopens whatever the clock says, and a file that is not a store is
//! refused with `incompatible_format` without a byte of it changing.

mod spec_support;

use std::path::Path;
use std::sync::Arc;

use customer_store::{
    CustomerPatch, CustomerStore, Error, ManualClock, NewCustomer, RedbStore, Status,
};
use redb::{ReadableDatabase, TableDefinition};
use spec_support::{
    SEED_CREATED_AT, TestResult, all_customers, at, expect_code, ids_of_aborted_child, verify_clean,
};

const BIZ: &str = "acme";

#[test]
fn data_survives_a_reopen_and_ids_keep_increasing_when_the_clock_steps_back() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    let clock = Arc::new(ManualClock::new(at(SEED_CREATED_AT)?));

    let (before, newest_deleted) = {
        let store = RedbStore::builder().clock(clock.clone()).open(&path)?;
        for i in 0..5 {
            store.create(
                BIZ,
                NewCustomer::new(format!("c{i}@example.com"), format!("C {i}"))
                    .with_external_id(format!("ext-{i}")),
            )?;
        }
        let batch = store.create_many(
            BIZ,
            (5..10)
                .map(|i| NewCustomer::new(format!("c{i}@example.com"), "Batch"))
                .collect(),
        )?;
        store.create("globex", NewCustomer::new("g@example.com", "G"))?;
        clock.advance_seconds(3600);
        let first = store
            .get_by_email(BIZ, "c0@example.com")?
            .ok_or("c0 is missing")?;
        store.update(
            BIZ,
            &first.id,
            CustomerPatch::default()
                .set_status(Status::Blocked)
                .set_phone(Some("+233249998888")),
        )?;
        store.delete(BIZ, &batch[1].id)?;
        // The newest customer is deleted too: its id must not come back after a reopen.
        let newest = batch.last().ok_or("empty batch")?.id.clone();
        store.delete(BIZ, &newest)?;
        (all_customers(&store, BIZ)?, newest)
    };
    assert_eq!(before.len(), 8);

    // Reopen with the clock a day behind the first session.
    clock.set(at("2026-06-04T12:00:00Z")?);
    {
        let store = RedbStore::builder().clock(clock.clone()).open(&path)?;
        assert_eq!(all_customers(&store, BIZ)?, before);
        let c0 = store
            .get_by_email(BIZ, "C0@example.com")?
            .ok_or("c0 is missing")?;
        assert_eq!(c0.status, Status::Blocked);
        assert_eq!(c0.phone.as_deref(), Some("+233249998888"));
        assert_eq!(c0.updated_at, at("2026-06-05T13:00:00Z")?);
        assert_eq!(
            store.get_by_external_id(BIZ, "ext-3")?.map(|c| c.email),
            Some("c3@example.com".into())
        );
        assert_eq!(all_customers(&store, "globex")?.len(), 1);
        expect_code(
            store.create(BIZ, NewCustomer::new("c1@example.com", "Dup")),
            "email_taken",
        );
        verify_clean(&store, 9)?;

        let after = store.create(BIZ, NewCustomer::new("after@example.com", "After"))?;
        assert!(
            after.id > newest_deleted,
            "{} <= {newest_deleted}",
            after.id
        );
        assert_eq!(after.created_at, at("2026-06-04T12:00:00Z")?);
        let more = store.create_many(
            BIZ,
            vec![
                NewCustomer::new("m1@example.com", "M"),
                NewCustomer::new("m2@example.com", "M"),
            ],
        )?;
        assert!(more[0].id > after.id && more[1].id > more[0].id);
    }

    // A third session, with the system clock: everything still there, ids still increasing.
    let store = RedbStore::open(&path)?;
    let all = all_customers(&store, BIZ)?;
    assert_eq!(all.len(), 11);
    assert_eq!(all[..8], before[..]);
    let last = store.create(BIZ, NewCustomer::new("last@example.com", "Last"))?;
    assert!(all.iter().all(|c| c.id < last.id));
    verify_clean(&store, 13)?;
    Ok(())
}

#[test]
fn a_second_open_of_a_held_file_fails_and_harms_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    let store = RedbStore::open(&path)?;
    let yaw = store.create(BIZ, NewCustomer::new("yaw@example.com", "Yaw"))?;
    let bytes = std::fs::read(&path)?;

    let error = expect_code(RedbStore::open(&path), "storage");
    assert!(error.is_storage() && error.is_in_use(), "{error}");
    assert_eq!(std::fs::read(&path)?, bytes);

    assert_eq!(store.get(BIZ, &yaw.id)?, Some(yaw.clone()));
    store.create(BIZ, NewCustomer::new("ama@example.com", "Ama"))?;
    drop(store);
    let store = RedbStore::open(&path)?;
    assert_eq!(all_customers(&store, BIZ)?.len(), 2);
    verify_clean(&store, 2)?;
    Ok(())
}

/// The store's format version, as it keeps it.
const META: TableDefinition<&str, u64> = TableDefinition::new("customer_store_meta");
const FORMAT_KEY: &str = "customer_store.format";

/// Sets the format version of the store file at `path`, behind the store's back.
fn set_format(path: &Path, version: u64) -> TestResult {
    let db = redb::Database::open(path)?;
    let txn = db.begin_write()?;
    txn.open_table(META)?.insert(FORMAT_KEY, version)?;
    txn.commit()?;
    Ok(())
}

fn format_of(path: &Path) -> Result<Option<u64>, Box<dyn std::error::Error>> {
    let db = redb::Database::open(path)?;
    let txn = db.begin_read()?;
    let version = txn.open_table(META)?.get(FORMAT_KEY)?.map(|v| v.value());
    Ok(version)
}

/// A store written by a later build (a format version this build does not know) is refused
/// without a byte changing: this build cannot know what its records hold.
#[test]
fn a_store_of_a_later_format_is_refused_untouched() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    {
        let store = RedbStore::open(&path)?;
        store.create(BIZ, NewCustomer::new("yaw@example.com", "Yaw"))?;
    }
    assert_eq!(format_of(&path)?, Some(4));
    set_format(&path, 5)?;
    assert_refused_untouched(&path)
}

/// A store of format 3 (before record layout 3) opens, is marked format 4, and keeps its
/// customers; a build of format 3 would then refuse it rather than misread its new records.
#[test]
fn a_format_3_store_opens_and_is_marked_format_4() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    let created = {
        let store = RedbStore::open(&path)?;
        store.create(BIZ, NewCustomer::new("yaw@example.com", "Yaw"))?
    };
    set_format(&path, 3)?;
    let store = RedbStore::open(&path)?;
    assert_eq!(store.get(BIZ, &created.id)?, Some(created));
    drop(store);
    assert_eq!(format_of(&path)?, Some(4));
    Ok(())
}

/// Opens `path`, which must be refused as `incompatible_format` with its bytes unchanged.
fn assert_refused_untouched(path: &Path) -> TestResult {
    let before = std::fs::read(path)?;
    for attempt in 0..2 {
        let result = if attempt == 0 {
            RedbStore::open(path)
        } else {
            RedbStore::builder().cache_size(1 << 20).open(path)
        };
        let error = expect_code(result, "incompatible_format");
        assert!(matches!(error, Error::IncompatibleFormat(_)), "{error:?}");
        assert_eq!(std::fs::read(path)?, before, "the refused file was changed");
    }
    Ok(())
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn random_bytes_are_refused_untouched() -> TestResult {
    let dir = tempfile::tempdir()?;
    for (i, len) in [1_usize, 9, 4096, 65_536].into_iter().enumerate() {
        let path = dir.path().join(format!("noise-{i}.bin"));
        std::fs::write(&path, noise(len, 0x9E37_79B9_7F4A_7C15 + len as u64))?;
        assert_refused_untouched(&path)?;
    }
    Ok(())
}

#[test]
fn a_text_file_is_refused_untouched() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.csv");
    std::fs::write(&path, "name,email\nYaw Mensah,yaw@example.com\n")?;
    assert_refused_untouched(&path)?;
    let path = dir.path().join("customers.json");
    std::fs::write(
        &path,
        r#"{"email": "yaw@example.com", "name": "Yaw Mensah"}"#,
    )?;
    assert_refused_untouched(&path)?;
    Ok(())
}

const USERS: TableDefinition<&str, &str> = TableDefinition::new("users");
const CUSTOMERS: TableDefinition<&str, &[u8]> = TableDefinition::new("customers");
const COUNTERS: TableDefinition<u64, u64> = TableDefinition::new("counters");

#[test]
fn a_redb_database_of_another_program_is_refused_untouched() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            users.insert("yaw", "yaw@example.com")?;
            users.insert("ama", "ama@example.com")?;
            let mut customers = txn.open_table(CUSTOMERS)?;
            customers.insert("cust_1", b"opaque".as_slice())?;
            let mut counters = txn.open_table(COUNTERS)?;
            counters.insert(1, 42)?;
        }
        txn.commit()?;
    }
    assert_refused_untouched(&path)?;

    // The other program still finds its data.
    let db = redb::Database::open(&path)?;
    let txn = db.begin_read()?;
    let users = txn.open_table(USERS)?;
    assert_eq!(
        users.get("yaw")?.map(|v| v.value().to_owned()),
        Some("yaw@example.com".into())
    );
    Ok(())
}

#[test]
fn a_redb_database_with_one_foreign_table_is_refused_untouched() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        txn.open_table(COUNTERS)?.insert(7, 7)?;
        txn.commit()?;
    }
    assert_refused_untouched(&path)
}

/// A store is linked into place only once its tables exist, so a redb file without any
/// table at a store's path is another program's (here one that has not written yet), not a
/// new store to take over; so too when the program left it needing repair.
#[test]
fn an_empty_redb_database_of_another_program_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("other.redb");
    drop(redb::Database::create(&path)?);
    assert_refused_untouched(&path)?;
    let error = expect_code(RedbStore::open(&path), "incompatible_format");
    assert!(error.to_string().contains("without any table"), "{error}");
    // The other program opens it as before.
    drop(redb::Database::open(&path)?);

    // As a kill before its first commit leaves it (a copy taken while it is open): redb
    // repairs it on a writable open, and the store still refuses it.
    let crashed = dir.path().join("crashed.redb");
    {
        let db = redb::Database::create(dir.path().join("open.redb"))?;
        std::fs::copy(dir.path().join("open.redb"), &crashed)?;
        drop(db);
    }
    expect_code(RedbStore::open(&crashed), "incompatible_format");
    expect_code(RedbStore::open(&crashed), "incompatible_format");

    // Multimap tables only: another program's too (it was adopted before).
    let multimap = dir.path().join("multimap.redb");
    {
        let db = redb::Database::create(&multimap)?;
        let txn = db.begin_write()?;
        txn.open_multimap_table(redb::MultimapTableDefinition::<&str, &str>::new("tags"))?
            .insert("a", "b")?;
        txn.commit()?;
    }
    assert_refused_untouched(&multimap)?;
    let error = expect_code(RedbStore::open(&multimap), "incompatible_format");
    assert!(error.to_string().contains("another program"), "{error}");
    Ok(())
}

#[test]
fn a_file_with_the_redb_magic_but_garbage_after_it_is_refused_untouched() -> TestResult {
    let dir = tempfile::tempdir()?;
    // A real redb file, its header kept and the rest overwritten with noise.
    let path = dir.path().join("damaged.redb");
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        txn.open_table(USERS)?.insert("yaw", "yaw@example.com")?;
        txn.commit()?;
    }
    let mut bytes = std::fs::read(&path)?;
    let garbage = noise(bytes.len(), 7);
    bytes[16..].copy_from_slice(&garbage[16..]);
    std::fs::write(&path, &bytes)?;

    let before = std::fs::read(&path)?;
    let error = RedbStore::open(&path)
        .err()
        .ok_or("a damaged file opened as a store")?;
    assert!(
        matches!(error.code(), "incompatible_format" | "corrupt"),
        "unexpected error: {error:?}"
    );
    assert_eq!(
        std::fs::read(&path)?,
        before,
        "the refused file was changed"
    );
    Ok(())
}

#[test]
fn a_store_file_opens_again_after_a_refused_foreign_file_next_to_it() -> TestResult {
    // Refusing one file leaves the process able to open real stores.
    let dir = tempfile::tempdir()?;
    let foreign = dir.path().join("foreign.bin");
    std::fs::write(&foreign, noise(1000, 3))?;
    assert_refused_untouched(&foreign)?;
    let store = RedbStore::open(dir.path().join("store.redb"))?;
    store.create(BIZ, NewCustomer::new("yaw@example.com", "Yaw"))?;
    verify_clean(&store, 1)?;
    Ok(())
}

/// The journal is checkpointed once it passes its limit, and its file stays within about the
/// limit (found in a trial: its length doubled past it, to 128 MiB for the default 64 MiB).
#[test]
fn the_journal_file_stays_near_its_limit() -> TestResult {
    const LIMIT: u64 = 5 << 20;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    let store = RedbStore::builder().journal_limit(LIMIT).open(&path)?;
    let journal = RedbStore::journal_path(&path);
    let mut longest = 0;
    for batch in 0..20 {
        let items: Vec<NewCustomer> = (0..100)
            .map(|i| {
                NewCustomer::new(format!("c{batch}x{i}@example.com"), "C")
                    .with_description("d".repeat(5000))
            })
            .collect();
        store.create_many(BIZ, items)?;
        longest = longest.max(std::fs::metadata(&journal)?.len());
    }
    assert!(
        longest > LIMIT,
        "the journal never reached its limit: {longest} bytes"
    );
    assert!(
        longest <= LIMIT + (2 << 20),
        "the journal grew to {longest} bytes for a limit of {LIMIT}"
    );
    verify_clean(&store, 2000)?;
    Ok(())
}

#[test]
fn a_skeleton_behind_a_symbolic_link_becomes_a_store_and_the_link_stays() -> TestResult {
    // What an interrupted creation of a file in place leaves: whole pages of zeros.
    let dir = tempfile::tempdir()?;
    let real = dir.path().join("real.redb");
    std::fs::write(&real, vec![0u8; 8192])?;
    let link = dir.path().join("link.redb");
    std::os::unix::fs::symlink(&real, &link)?;
    RedbStore::open(&link)?.create(BIZ, NewCustomer::new("a@x.io", "A"))?;
    assert!(std::fs::symlink_metadata(&link)?.file_type().is_symlink());
    verify_clean(&RedbStore::open(&real)?, 1)?;
    Ok(())
}

#[test]
fn a_link_to_a_file_not_yet_there_gets_the_store_where_it_leads() -> TestResult {
    // A path linked onto another volume before the first run. Found in review: once a new
    // store's file was linked into place (a hard link never replaces a name), the open made
    // an empty redb file at the link's target and then refused it for good.
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("volume"))?;
    let link = dir.path().join("customers.redb");
    // A relative target, through a second link.
    std::os::unix::fs::symlink("volume/customers.redb", dir.path().join("hop.redb"))?;
    std::os::unix::fs::symlink("hop.redb", &link)?;
    let store = RedbStore::open(&link)?;
    store.create(BIZ, NewCustomer::new("a@x.io", "A"))?;
    let real = dir.path().join("volume/customers.redb");
    assert!(
        RedbStore::journal_path(&real).exists(),
        "the journal is not beside the file"
    );
    drop(store);
    assert!(std::fs::symlink_metadata(&link)?.file_type().is_symlink());
    assert!(std::fs::symlink_metadata(&real)?.file_type().is_file());
    verify_clean(&RedbStore::open(&link)?, 1)?;
    verify_clean(&RedbStore::open(&real)?, 1)?;
    Ok(())
}

/// An open creates its journal under a temporary name and names it at its first write, and a
/// clean close removes it: no empty journal is left where it would stand for a lost one (an
/// open killed before its first write, under the other name of a hard link, left one).
#[test]
fn the_journal_has_its_name_only_while_it_may_hold_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    let journal = RedbStore::journal_path(&path);
    for round in 0..2 {
        let store = RedbStore::open(&path)?;
        assert!(
            !journal.exists(),
            "round {round}: a journal before the first write"
        );
        store.create(BIZ, NewCustomer::new(format!("c{round}@x.io"), "C"))?;
        assert!(journal.exists(), "round {round}: no journal after a write");
        drop(store);
        assert!(
            !journal.exists(),
            "round {round}: the clean close left the journal"
        );
    }
    // Nothing else is left beside the store file.
    let names: Vec<String> = std::fs::read_dir(dir.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names, ["customers.redb"]);
    verify_clean(&RedbStore::open(&path)?, 2)?;
    Ok(())
}

#[test]
fn a_journal_with_writes_beside_a_missing_store_file_is_refused_and_kept() -> TestResult {
    // A store stopped by a crash with acknowledged writes in its journal, its file moved away
    // (a restore, an inspection) when the service starts again. The open used to create a
    // new store there and remove the journal as a leftover: the writes were lost for good,
    // and the file, put back, refused to open without its journal (found in review).
    let live = tempfile::tempdir()?;
    let path = live.path().join("customers.redb");
    let store = RedbStore::open(&path)?;
    store.create(BIZ, NewCustomer::new("a@x.io", "A"))?;
    store.create(BIZ, NewCustomer::new("b@x.io", "B"))?;
    // The two files as a crash leaves them: copied while the store is open.
    let dir = tempfile::tempdir()?;
    let image = dir.path().join("customers.redb");
    let journal = RedbStore::journal_path(&image);
    std::fs::copy(&path, &image)?;
    std::fs::copy(RedbStore::journal_path(&path), &journal)?;
    drop(store);
    let before = std::fs::read(&journal)?;
    let moved = dir.path().join("customers.redb.moved");
    std::fs::rename(&image, &moved)?;
    for with_journal in [true, false] {
        let opened = RedbStore::builder().journal(with_journal).open(&image);
        let error = expect_code(opened, "corrupt");
        assert!(
            error
                .to_string()
                .contains("may hold writes but the store file"),
            "{error}"
        );
        assert!(!image.exists(), "a store file was created");
        assert_eq!(std::fs::read(&journal)?, before, "the journal was changed");
    }
    // Put back, the store opens with both writes.
    std::fs::rename(&moved, &image)?;
    verify_clean(&RedbStore::open(&image)?, 2)?;
    // The same with its first frame damaged: frames after it may still hold writes (found in
    // review: only an intact first frame counted), as may a journal torn at its first frame.
    std::fs::remove_file(&image)?;
    let mut damaged = before.clone();
    damaged[10] ^= 0x40;
    for kept in [damaged, before[..before.len().min(40)].to_vec()] {
        std::fs::write(&journal, &kept)?;
        expect_code(RedbStore::open(&image), "corrupt");
        assert!(!image.exists(), "a store file was created");
        assert_eq!(std::fs::read(&journal)?, kept, "the journal was changed");
    }
    // A journal that never held a write beside no store file is a leftover: an empty one, or
    // one of zeros (grown, never written). Removed, and a new store created.
    for leftover in [Vec::new(), vec![0u8; 3 << 20]] {
        std::fs::write(&journal, &leftover)?;
        verify_clean(&RedbStore::open(&image)?, 0)?;
        assert!(!journal.exists(), "the leftover journal was kept");
        std::fs::remove_file(&image)?;
    }
    Ok(())
}

#[test]
fn a_directory_is_a_storage_error_not_a_foreign_file() -> TestResult {
    // Found in a library user's trial: `incompatible_format`, "not a redb database file",
    // where the docs promise `storage` for a file that cannot be opened.
    let dir = tempfile::tempdir()?;
    let error = expect_code(RedbStore::open(dir.path()), "storage");
    assert!(error.to_string().contains("a directory"), "{error}");
    assert_eq!(
        std::fs::read_dir(dir.path())?.count(),
        0,
        "something was written"
    );
    Ok(())
}

#[test]
fn a_store_in_a_missing_directory_names_the_directory() -> TestResult {
    // Found in an operator's trial: "create PATH (No such file or directory)" read as if the
    // store file were meant.
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("not-there");
    let error = expect_code(RedbStore::open(missing.join("customers.redb")), "storage");
    let text = error.to_string();
    assert!(
        text.contains("the directory") && text.contains("does not exist"),
        "{text}"
    );
    assert!(!missing.exists(), "the directory was made");
    Ok(())
}

#[test]
fn a_storage_error_on_open_names_the_file() -> TestResult {
    // Found in a library user's trial: under a regular file (as for a permission refused) the
    // open said only "storage error: journal: open", naming no file.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory")?;
    let path = file.join("customers.redb");
    let error = expect_code(RedbStore::open(&path), "storage");
    let text = error.to_string();
    assert!(text.contains(&*file.to_string_lossy()), "{text}");
    assert_eq!(
        std::fs::read(&file)?,
        b"not a directory",
        "the file was written"
    );
    Ok(())
}

#[test]
fn a_device_or_a_pipe_is_a_storage_error_and_never_opened() -> TestResult {
    // Found in a library user's trial: /dev/null was "empty (0 bytes), not a store; to start
    // a new store there, remove it first". A pipe must not be opened at all: the open would
    // wait for a writer.
    let dir = tempfile::tempdir()?;
    let pipe = dir.path().join("a-pipe");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status()?;
    assert!(made.success(), "mkfifo");
    for path in [Path::new("/dev/null"), pipe.as_path()] {
        let error = expect_code(RedbStore::open(path), "storage");
        let text = error.to_string();
        assert!(
            text.contains("not a regular file") && text.contains(&*path.to_string_lossy()),
            "{text}"
        );
    }
    // A pipe in the journal's place is not opened either (found in review: the open waited
    // for a writer), beside a new store or an existing one.
    for existing in [false, true] {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("customers.redb");
        if existing {
            RedbStore::open(&path)?.create(BIZ, NewCustomer::new("yaw@example.com", "Yaw"))?;
        }
        let journal = RedbStore::journal_path(&path);
        let made = std::process::Command::new("mkfifo")
            .arg(&journal)
            .status()?;
        assert!(made.success(), "mkfifo");
        let error = expect_code(RedbStore::open(&path), "storage");
        let text = error.to_string();
        assert!(
            text.contains("not a regular file") && text.contains(&*journal.to_string_lossy()),
            "{text}"
        );
        assert_eq!(path.exists(), existing, "a store file was created");
    }
    let error = expect_code(RedbStore::open(""), "invalid_request");
    assert_eq!(error.field(), Some("path"));
    assert!(error.to_string().contains("\"\" names no file"), "{error}");
    Ok(())
}

#[test]
fn an_empty_store_file_is_refused_untouched() -> TestResult {
    // A file of 0 bytes is never a store of ours (a new one is created under another name and
    // linked into place): a failed restore or a full disk left it. Taken as a new store, it
    // served an empty store (and `check` said "ok") and grew to 72 KiB.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    std::fs::write(&path, b"")?;
    for journal in [true, false] {
        let error = expect_code(RedbStore::builder().journal(journal).open(&path), "corrupt");
        assert!(error.to_string().contains("empty (0 bytes)"), "{error}");
        assert_eq!(std::fs::metadata(&path)?.len(), 0, "the file was written");
        assert!(
            !RedbStore::journal_path(&path).exists(),
            "a journal was created"
        );
    }
    // Removed, the open creates a new store.
    std::fs::remove_file(&path)?;
    verify_clean(&RedbStore::open(&path)?, 0)?;
    Ok(())
}

#[test]
fn a_database_in_the_journals_place_is_refused_untouched() -> TestResult {
    // A store file put where another store keeps its journal (say, opened by mistake at the
    // journal's path) would read as a torn journal and be overwritten.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    RedbStore::open(&path)?.create(BIZ, NewCustomer::new("yaw@example.com", "Yaw"))?;
    let journal = RedbStore::journal_path(&path);
    // (The clean close removed the journal.)
    assert!(!journal.exists());
    {
        let misplaced = RedbStore::open(&journal)?;
        misplaced.create(BIZ, NewCustomer::new("ama@example.com", "Ama"))?;
    }
    let before = std::fs::read(&journal)?;
    assert!(before.len() > 4096, "{} bytes", before.len());
    let error = expect_code(RedbStore::open(&path), "incompatible_format");
    assert!(error.to_string().contains("journal"), "{error}");
    assert_eq!(
        std::fs::read(&journal)?,
        before,
        "the misplaced file was changed"
    );
    // Beside a store not yet created: refused too, rather than removed as a leftover journal,
    // and no store file is created.
    let new = dir.path().join("new.redb");
    let new_journal = RedbStore::journal_path(&new);
    std::fs::copy(&journal, &new_journal)?;
    expect_code(RedbStore::open(&new), "incompatible_format");
    assert!(!new.exists(), "a store file was created");
    assert_eq!(
        std::fs::read(&new_journal)?,
        before,
        "the misplaced file was changed"
    );
    // Moved away, both open.
    let moved = dir.path().join("other.redb");
    std::fs::rename(&journal, &moved)?;
    verify_clean(&RedbStore::open(&path)?, 1)?;
    verify_clean(&RedbStore::open(&moved)?, 1)?;
    Ok(())
}

#[test]
fn reads_refusals_and_no_op_patches_write_nothing_to_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    let store = RedbStore::open(&path)?;
    let yaw = store.create(
        BIZ,
        NewCustomer::new("yaw@example.com", "Yaw Mensah")
            .with_phone("+233249998888")
            .with_external_id("user_db_yaw123")
            .with_currency("GHS"),
    )?;
    let ama = store.create(BIZ, NewCustomer::new("ama@example.com", "Ama"))?;
    // The store's files: the database and its journal (where a write lands first).
    let journal = dir.path().join("customers.redb.journal");
    let files = || -> std::io::Result<(Vec<u8>, Vec<u8>)> {
        Ok((std::fs::read(&path)?, std::fs::read(&journal)?))
    };
    let bytes = files()?;
    let unchanged = |what: &str| -> TestResult {
        assert!(files()? == bytes, "{what} changed the files");
        Ok(())
    };

    store.get(BIZ, &yaw.id)?;
    store.get_by_email(BIZ, "YAW@example.com")?;
    store.get_by_external_id(BIZ, "user_db_yaw123")?;
    store.list(BIZ, &customer_store::ListQuery::default().with_email("yaw"))?;
    store.verify()?;
    unchanged("a read")?;

    for patch in [
        CustomerPatch::default(),
        CustomerPatch::default().set_name(" Yaw Mensah "),
        CustomerPatch::default()
            .set_phone(Some("+233 24 999 8888"))
            .set_currency(Some("ghs")),
        CustomerPatch::default()
            .set_status(Status::Active)
            .set_description(None::<String>),
    ] {
        assert_eq!(store.update(BIZ, &yaw.id, patch.clone())?, yaw, "{patch:?}");
        unchanged("a patch that changes nothing")?;
    }

    expect_code(
        store.create(BIZ, NewCustomer::new("bad", "Bad")),
        "invalid_request",
    );
    expect_code(
        store.create(BIZ, NewCustomer::new("YAW@example.com", "Dup")),
        "email_taken",
    );
    expect_code(
        store.create(
            BIZ,
            NewCustomer::new("new@example.com", "N").with_external_id("user_db_yaw123"),
        ),
        "external_id_taken",
    );
    expect_code(
        store.create_many(
            BIZ,
            vec![
                NewCustomer::new("n1@example.com", "N"),
                NewCustomer::new("ama@example.com", "N"),
            ],
        ),
        "email_taken",
    );
    expect_code(
        store.update(
            BIZ,
            &ama.id,
            CustomerPatch::default().set_email("yaw@example.com"),
        ),
        "email_taken",
    );
    expect_code(
        store.update(BIZ, &ama.id, CustomerPatch::default().set_name("")),
        "invalid_request",
    );
    expect_code(store.delete(BIZ, "cust_c0000000000000"), "not_found");
    expect_code(store.delete("globex", &yaw.id), "not_found");
    unchanged("a refused call")?;

    // A real change does reach the file.
    store.update(
        BIZ,
        &yaw.id,
        CustomerPatch::default().set_name("Yaw Mensah Jr."),
    )?;
    assert!(
        files()? != bytes,
        "a committed update left the files as they were"
    );
    verify_clean(&store, 2)?;
    Ok(())
}

/// Set in the child process of `writes_that_returned_ok_survive_a_process_abort`.
const CHILD_DB: &str = "CUSTOMER_STORE_SPEC_FILES_CHILD_DB";

#[test]
fn writes_that_returned_ok_survive_a_process_abort() -> TestResult {
    const NAME: &str = "writes_that_returned_ok_survive_a_process_abort";
    if let Some(path) = std::env::var_os(CHILD_DB) {
        // The child: print each id once its create returned Ok, then die without unwinding.
        use std::io::Write as _;
        let store = RedbStore::open(&path)?;
        let mut out = std::io::stdout().lock();
        for i in 0..20 {
            let c = store.create(BIZ, NewCustomer::new(format!("c{i}@example.com"), "C"))?;
            writeln!(out, "created {}", c.id)?;
            out.flush()?;
        }
        let batch = store.create_many(
            BIZ,
            (20..30)
                .map(|i| NewCustomer::new(format!("c{i}@example.com"), "C"))
                .collect(),
        )?;
        for c in batch {
            writeln!(out, "created {}", c.id)?;
        }
        out.flush()?;
        std::process::abort();
    }

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    let ids = ids_of_aborted_child(NAME, CHILD_DB, &path)?;
    assert_eq!(ids.len(), 30, "child ids: {ids:?}");

    let store = RedbStore::open(&path)?;
    let all = all_customers(&store, BIZ)?;
    assert_eq!(all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ids);
    verify_clean(&store, 30)?;
    Ok(())
}
