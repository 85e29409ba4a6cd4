//! Two pieces of work at once: a large batch splits its checks and its writes between the
//! calling thread and a scoped second one (see `ops::write_new`, `ops::create` and
//! `check_items`).

use std::thread::Result as Joined;

/// Runs `side` on a second, scoped thread while this thread runs `main`, and returns both
/// results. If no thread can be started, `side` runs here after `main` (so it must not need
/// to run first). A panic of `side` on its thread comes back as the `Err` of its result; one
/// of `main` unwinds as usual, after `side` is joined.
pub(crate) fn beside<M, S: Send>(
    main: impl FnOnce() -> M,
    side: impl FnOnce() -> S + Send,
) -> (M, Joined<S>) {
    let mut side = Some(side);
    let (main_out, joined) = std::thread::scope(|scope| {
        let slot = &mut side;
        let thread =
            std::thread::Builder::new().spawn_scoped(scope, move || slot.take().map(|side| side()));
        (main(), thread.ok().map(|thread| thread.join()))
    });
    let side_out = match (joined, side) {
        (Some(Ok(Some(out))), _) => Ok(out),
        (Some(Err(panic)), _) => Err(panic),
        // No thread could be started: the work is still here.
        (None, Some(side)) => Ok(side()),
        // Not reached: a started thread always finds the work.
        (Some(Ok(None)), _) | (None, None) => Err(Box::new("the second thread had no work") as _),
    };
    (main_out, side_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_run_and_a_side_panic_is_returned() {
        let (a, b) = beside(|| 2 + 2, || "side");
        assert_eq!((a, b.ok()), (4, Some("side")));
        let (a, b) = beside(|| 1, || -> u8 { panic!("boom") });
        assert_eq!(a, 1);
        let panic = b.expect_err("the side panicked");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom"));
    }

    #[test]
    fn side_may_borrow_what_main_does_not() {
        let mut written = Vec::new();
        let mut other = 0;
        let (_, side) = beside(|| other += 1, || written.push(7));
        assert!(side.is_ok());
        assert_eq!((written, other), (vec![7], 1));
    }
}
