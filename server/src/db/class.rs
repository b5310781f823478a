//! The store's half for classes: classes, their students, the lab steps they passed, their best
//! check per program, what they saved, and the signing key every instance shares.
//!
//! The queries are written once, with `?` placeholders; [`sql`] numbers them (`$1`, `$2`, ...)
//! for PostgreSQL, and the `class_store!` macro writes each backend's [`ClassStore`] from them.
//! Live class events go through [`Notify`], which only PostgreSQL implements for real
//! (`LISTEN/NOTIFY`); on SQLite the gateway's in-process channel is the only one.

use std::borrow::Cow;
use std::pin::Pin;

use super::Fut;

/// A class.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Class {
    pub id: String,
    pub name: String,
    /// What students type to join.
    pub join_code: String,
    pub created_ms: i64,
    /// When the instructor closed it to new joins.
    pub closed_ms: Option<i64>,
}

/// A student of a class.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Student {
    pub id: String,
    pub class_id: String,
    /// The display name as typed, trimmed.
    pub name: String,
    pub joined_ms: i64,
}

/// A lab step a student passed, with the answers that passed it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StepDone {
    pub student_id: String,
    pub lab: String,
    pub step: String,
    /// A JSON object: question id to answer.
    pub answers: String,
    pub done_ms: i64,
}

/// A student's best check of one program.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CheckDone {
    pub student_id: String,
    pub program: String,
    pub passed: i64,
    pub total: i64,
    pub at_ms: i64,
}

/// A saved exchange a student owns.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Owned {
    pub id: String,
    pub created_ms: i64,
}

/// A stream of notification payloads.
pub type Payloads = Pin<Box<dyn futures_util::Stream<Item = String> + Send>>;

/// Classes in the store. Filters taking a student id read every student of the class when it
/// is empty.
pub trait ClassStore {
    /// Keeps a new class; [`super::StoreError::Taken`] when its id or join code is used.
    fn create_class<'a>(&'a self, class: &'a Class) -> Fut<'a, ()>;
    fn class<'a>(&'a self, id: &'a str) -> Fut<'a, Option<Class>>;
    /// The class a join code opens (codes are stored upper-case).
    fn class_by_code<'a>(&'a self, code: &'a str) -> Fut<'a, Option<Class>>;
    /// Closes a class to new joins; false when it was already closed or is missing.
    fn close_class<'a>(&'a self, id: &'a str, now_ms: i64) -> Fut<'a, bool>;
    /// Adds a student; [`super::StoreError::Taken`] with the name when the class has it already.
    fn join<'a>(&'a self, student: &'a Student) -> Fut<'a, ()>;
    fn student<'a>(&'a self, id: &'a str) -> Fut<'a, Option<Student>>;
    /// A class's students in the order they joined.
    fn students<'a>(&'a self, class_id: &'a str) -> Fut<'a, Vec<Student>>;
    /// Removes a student of the class and what they did (their saved exchanges stay, anonymous
    /// to the class); false when no such student is in the class.
    fn remove_student<'a>(&'a self, class_id: &'a str, student_id: &'a str) -> Fut<'a, bool>;
    /// Records a passed step; false when the student had passed it already (the first is kept).
    fn record_step<'a>(&'a self, done: &'a StepDone) -> Fut<'a, bool>;
    /// Records a check; it replaces the student's result for the program unless it passed less.
    fn record_check<'a>(&'a self, done: &'a CheckDone) -> Fut<'a, ()>;
    fn steps<'a>(&'a self, class_id: &'a str, student_id: &'a str) -> Fut<'a, Vec<StepDone>>;
    fn checks<'a>(&'a self, class_id: &'a str, student_id: &'a str) -> Fut<'a, Vec<CheckDone>>;
    /// The saved exchanges a student owns, newest first.
    fn saved_by<'a>(&'a self, student_id: &'a str) -> Fut<'a, Vec<Owned>>;
    /// The signing key `name`: the one stored, or `candidate` when there was none (the first
    /// instance to store one wins, and every instance then reads that one).
    fn signing_key<'a>(&'a self, name: &'a str, candidate: &'a [u8]) -> Fut<'a, Vec<u8>>;
}

/// Class events across instances.
pub trait Notify {
    /// Sends `payload` to every instance's [`Notify::listen`]; false when this backend cannot,
    /// and the caller delivers it in process.
    fn notify<'a>(&'a self, payload: &'a str) -> Fut<'a, bool>;
    /// Every payload notified from now on, by any instance; `None` when this backend has none.
    fn listen(&self) -> Fut<'_, Option<Payloads>>;
}

/// The channel class events travel on.
pub const CHANNEL: &str = "socketlab_class";

/// `query` for a backend: `?` placeholders as they are, or numbered `$1`, `$2`, ...
pub fn sql(numbered: bool, query: &'static str) -> Cow<'static, str> {
    if !numbered {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len() + 8);
    let mut n = 0;
    for c in query.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

pub(super) const CREATE_CLASS: &str = "INSERT INTO class (id, name, join_code, created_ms, closed_ms) \
     VALUES (?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING";
pub(super) const CLASS: &str = "SELECT id, name, join_code, created_ms, closed_ms FROM class WHERE id = ?";
pub(super) const CLASS_BY_CODE: &str =
    "SELECT id, name, join_code, created_ms, closed_ms FROM class WHERE join_code = ?";
pub(super) const CLOSE_CLASS: &str = "UPDATE class SET closed_ms = ? WHERE id = ? AND closed_ms IS NULL";
pub(super) const JOIN: &str = "INSERT INTO student (id, class_id, name, name_key, joined_ms) \
     VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
pub(super) const STUDENT: &str = "SELECT id, class_id, name, joined_ms FROM student WHERE id = ?";
pub(super) const STUDENTS: &str =
    "SELECT id, class_id, name, joined_ms FROM student WHERE class_id = ? ORDER BY joined_ms, id";
pub(super) const IN_CLASS: &str = "SELECT id, class_id, name, joined_ms FROM student WHERE class_id = ? AND id = ?";
pub(super) const FORGET_STEPS: &str = "DELETE FROM lab_progress WHERE student_id = ?";
pub(super) const FORGET_CHECKS: &str = "DELETE FROM check_result WHERE student_id = ?";
pub(super) const FORGET_STUDENT: &str = "DELETE FROM student WHERE id = ?";
pub(super) const RECORD_STEP: &str = "INSERT INTO lab_progress (student_id, lab, step, answers, done_ms) \
     VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
pub(super) const RECORD_CHECK: &str = "INSERT INTO check_result (student_id, program, passed, total, at_ms) \
     VALUES (?, ?, ?, ?, ?) ON CONFLICT (student_id, program) DO UPDATE SET passed = excluded.passed, \
     total = excluded.total, at_ms = excluded.at_ms WHERE excluded.passed >= check_result.passed";
pub(super) const STEPS: &str = "SELECT p.student_id, p.lab, p.step, p.answers, p.done_ms FROM lab_progress p \
     JOIN student s ON s.id = p.student_id WHERE s.class_id = ? AND (? = '' OR p.student_id = ?) \
     ORDER BY p.done_ms, p.lab, p.step";
pub(super) const CHECKS: &str = "SELECT c.student_id, c.program, c.passed, c.total, c.at_ms FROM check_result c \
     JOIN student s ON s.id = c.student_id WHERE s.class_id = ? AND (? = '' OR c.student_id = ?) \
     ORDER BY c.program, c.student_id";
pub(super) const SAVED_BY: &str =
    "SELECT id, created_ms FROM saved_exchange WHERE owner = ? ORDER BY created_ms DESC, id";
pub(super) const PUT_KEY: &str = "INSERT INTO signing_key (name, key) VALUES (?, ?) ON CONFLICT DO NOTHING";
pub(super) const GET_KEY: &str = "SELECT key FROM signing_key WHERE name = ?";

/// Writes a backend's [`ClassStore`] from the queries above; `$numbered` says whether its
/// placeholders are numbered.
macro_rules! class_store {
    ($ty:ty, numbered: $numbered:expr) => {
        impl $crate::db::class::ClassStore for $ty {
            fn create_class<'a>(&'a self, c: &'a $crate::db::class::Class) -> $crate::db::Fut<'a, ()> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::CREATE_CLASS);
                    let done = sqlx::query(&q)
                        .bind(&c.id)
                        .bind(&c.name)
                        .bind(&c.join_code)
                        .bind(c.created_ms)
                        .execute(&self.pool)
                        .await?;
                    if done.rows_affected() == 0 {
                        Err($crate::db::StoreError::Taken(c.join_code.clone()))
                    } else {
                        Ok(())
                    }
                })
            }

            fn class<'a>(&'a self, id: &'a str) -> $crate::db::Fut<'a, Option<$crate::db::class::Class>> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::CLASS);
                    Ok(sqlx::query_as(&q).bind(id).fetch_optional(&self.pool).await?)
                })
            }

            fn class_by_code<'a>(&'a self, code: &'a str) -> $crate::db::Fut<'a, Option<$crate::db::class::Class>> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::CLASS_BY_CODE);
                    Ok(sqlx::query_as(&q).bind(code).fetch_optional(&self.pool).await?)
                })
            }

            fn close_class<'a>(&'a self, id: &'a str, now_ms: i64) -> $crate::db::Fut<'a, bool> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::CLOSE_CLASS);
                    Ok(sqlx::query(&q).bind(now_ms).bind(id).execute(&self.pool).await?.rows_affected() > 0)
                })
            }

            fn join<'a>(&'a self, s: &'a $crate::db::class::Student) -> $crate::db::Fut<'a, ()> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::JOIN);
                    let done = sqlx::query(&q)
                        .bind(&s.id)
                        .bind(&s.class_id)
                        .bind(&s.name)
                        .bind(s.name.to_lowercase())
                        .bind(s.joined_ms)
                        .execute(&self.pool)
                        .await?;
                    if done.rows_affected() == 0 { Err($crate::db::StoreError::Taken(s.name.clone())) } else { Ok(()) }
                })
            }

            fn student<'a>(&'a self, id: &'a str) -> $crate::db::Fut<'a, Option<$crate::db::class::Student>> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::STUDENT);
                    Ok(sqlx::query_as(&q).bind(id).fetch_optional(&self.pool).await?)
                })
            }

            fn students<'a>(&'a self, class_id: &'a str) -> $crate::db::Fut<'a, Vec<$crate::db::class::Student>> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::STUDENTS);
                    Ok(sqlx::query_as(&q).bind(class_id).fetch_all(&self.pool).await?)
                })
            }

            fn remove_student<'a>(&'a self, class_id: &'a str, student_id: &'a str) -> $crate::db::Fut<'a, bool> {
                Box::pin(async move {
                    use $crate::db::class::{FORGET_CHECKS, FORGET_STEPS, FORGET_STUDENT, IN_CLASS, sql};
                    let mut tx = self.pool.begin().await?;
                    let q = sql($numbered, IN_CLASS);
                    let found: Option<$crate::db::class::Student> =
                        sqlx::query_as(&q).bind(class_id).bind(student_id).fetch_optional(&mut *tx).await?;
                    if found.is_none() {
                        return Ok(false);
                    }
                    for forget in [FORGET_STEPS, FORGET_CHECKS, FORGET_STUDENT] {
                        sqlx::query(&sql($numbered, forget)).bind(student_id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                })
            }

            fn record_step<'a>(&'a self, d: &'a $crate::db::class::StepDone) -> $crate::db::Fut<'a, bool> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::RECORD_STEP);
                    let done = sqlx::query(&q)
                        .bind(&d.student_id)
                        .bind(&d.lab)
                        .bind(&d.step)
                        .bind(&d.answers)
                        .bind(d.done_ms)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
            }

            fn record_check<'a>(&'a self, d: &'a $crate::db::class::CheckDone) -> $crate::db::Fut<'a, ()> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::RECORD_CHECK);
                    sqlx::query(&q)
                        .bind(&d.student_id)
                        .bind(&d.program)
                        .bind(d.passed)
                        .bind(d.total)
                        .bind(d.at_ms)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                })
            }

            fn steps<'a>(
                &'a self,
                class_id: &'a str,
                student_id: &'a str,
            ) -> $crate::db::Fut<'a, Vec<$crate::db::class::StepDone>> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::STEPS);
                    Ok(sqlx::query_as(&q)
                        .bind(class_id)
                        .bind(student_id)
                        .bind(student_id)
                        .fetch_all(&self.pool)
                        .await?)
                })
            }

            fn checks<'a>(
                &'a self,
                class_id: &'a str,
                student_id: &'a str,
            ) -> $crate::db::Fut<'a, Vec<$crate::db::class::CheckDone>> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::CHECKS);
                    Ok(sqlx::query_as(&q)
                        .bind(class_id)
                        .bind(student_id)
                        .bind(student_id)
                        .fetch_all(&self.pool)
                        .await?)
                })
            }

            fn saved_by<'a>(&'a self, student_id: &'a str) -> $crate::db::Fut<'a, Vec<$crate::db::class::Owned>> {
                Box::pin(async move {
                    let q = $crate::db::class::sql($numbered, $crate::db::class::SAVED_BY);
                    Ok(sqlx::query_as(&q).bind(student_id).fetch_all(&self.pool).await?)
                })
            }

            fn signing_key<'a>(&'a self, name: &'a str, candidate: &'a [u8]) -> $crate::db::Fut<'a, Vec<u8>> {
                Box::pin(async move {
                    let put = $crate::db::class::sql($numbered, $crate::db::class::PUT_KEY);
                    sqlx::query(&put).bind(name).bind(candidate).execute(&self.pool).await?;
                    let get = $crate::db::class::sql($numbered, $crate::db::class::GET_KEY);
                    let (key,): (Vec<u8>,) = sqlx::query_as(&get).bind(name).fetch_one(&self.pool).await?;
                    Ok(key)
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::sql;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        assert_eq!(sql(false, "a = ? AND b = ?"), "a = ? AND b = ?");
        assert_eq!(sql(true, "a = ? AND (? = '' OR b = ?)"), "a = $1 AND ($2 = '' OR b = $3)");
        assert_eq!(sql(true, "no placeholder"), "no placeholder");
    }
}
