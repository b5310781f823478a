//! Every sentence of the instructor page, in English and Chinese, in one table, like the
//! students' page. Templates use `{name}` placeholders filled by [`fill`].

pub use socketlab_proto::text::{Lang, fill};
use socketlab_proto::text::{Row, lookup};

/// (key, English, Chinese).
const TABLE: &[Row] = &[
    ("lang_toggle", "中文", "English"),
    ("title", "{class} · socketlab instructor", "{class} · socketlab 教师页面"),
    ("join_code", "Join code", "加入码"),
    ("open", "open for joining", "开放加入"),
    ("closed", "closed: no new students", "已关闭：不再接受新学生"),
    ("live", "live", "实时"),
    ("reconnecting", "reconnecting…", "正在重新连接…"),
    ("csv", "Download grades (CSV)", "下载成绩（CSV）"),
    ("close", "Close the class", "关闭班级"),
    ("no_students", "No student has joined yet. Give them the join code.", "还没有学生加入。请把加入码告诉学生。"),
    ("student", "Student", "学生"),
    ("check", "check: {program}", "检查：{program}"),
    ("actions", "Actions", "操作"),
    ("cell", "{name}, {lab}: {n} of {total} steps", "{name}，{lab}：完成 {n} / {total} 步"),
    ("remove", "Remove", "移除"),
    (
        "ask_close",
        "Close the class? Students can no longer join; those who joined keep working.",
        "关闭班级？之后无法再加入；已加入的学生可以继续学习。",
    ),
    (
        "ask_remove",
        "Remove {name} from the class? Their session ends and their work leaves the grades.",
        "把 {name} 移出班级？其会话将结束，其作业也不再计入成绩。",
    ),
    ("confirm", "Confirm", "确认"),
    ("yes", "Yes", "是"),
    ("cancel", "Cancel", "取消"),
    ("roster", "← Roster", "← 花名册"),
    ("loading", "Loading…", "正在加载…"),
    ("answers", "Answers in this lab", "本实验的答案"),
    ("no_answers", "No step of this lab passed yet.", "这个实验还没有通过任何一步。"),
    ("saved", "Saved exchanges", "保存的交换"),
    ("none_saved", "None saved.", "没有保存。"),
    ("read_only", "(read-only timeline)", "（只读时间线）"),
    ("checks", "Checks", "检查结果"),
    ("more", "More", "更多"),
    ("none", "none", "无"),
    ("yes_value", "yes", "是"),
    ("no_value", "no", "否"),
    (
        "err_link",
        "This page needs the instructor link: /instructor/<class>#key=<secret>, as printed when the class was created.",
        "这个页面需要教师链接：/instructor/<班级>#key=<密钥>，即创建班级时给出的链接。",
    ),
    ("err_unreachable", "The gateway did not answer. Reload the page to try again.", "网关没有回应。请刷新页面重试。"),
    (
        "err_key",
        "This link's key was not accepted. Open the instructor link you got when the class was created.",
        "这个链接的密钥未被接受。请打开创建班级时得到的教师链接。",
    ),
    ("err_other_class", "This key belongs to another class.", "这个密钥属于另一个班级。"),
    ("err_no_class", "No such class on this gateway.", "这个网关上没有这个班级。"),
    ("err_status", "The gateway answered {detail}.", "网关回答：{detail}。"),
    ("err_unreadable", "The class's data could not be read: {detail}", "无法读取班级数据：{detail}"),
];

/// The text for `key` in `lang`; the key itself if it is missing, so a gap is visible.
pub fn t(lang: Lang, key: &str) -> &str {
    lookup(&[TABLE], lang, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_both_languages_once_with_the_same_placeholders() {
        assert_eq!(socketlab_proto::text::table_faults(&[TABLE]), Vec::<String>::new());
        assert_eq!(fill(t(Lang::Zh, "check"), &[("program", "udp-server")]), "检查：udp-server");
    }
}
