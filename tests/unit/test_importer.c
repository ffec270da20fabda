/* test_importer.c - the importer's recognisers and conversions. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "importer.h"
#include "test.h"

/* Convert text; returns the rendered file (caller frees); doc filled. */
static char *conv(const char *text, import_doc *doc, diag *d, const import_opts *o)
{
    if (import_convert("in.txt", text, strlen(text), o, doc, d) < 0) return NULL;
    return import_render(doc);
}

/* Does diag hold a message containing s? */
static int diag_has(diag *d, const char *s)
{
    diag_sort(d);
    for (size_t i = 0; i < diag_total(d); i++)
        if (strstr(diag_message(d, i), s)) return 1;
    return 0;
}

/* Parse "k: <yaml scalar>" with libyaml and return the scalar. */
static char *yaml_roundtrip(const char *quoted)
{
    char *doc = NULL;
    size_t n = strlen(quoted) + 8;
    doc = malloc(n);
    snprintf(doc, n, "k: %s\n", quoted);
    yaml_parser_t p;
    yaml_document_t y;
    char *out = NULL;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)doc, strlen(doc));
    if (yaml_parser_load(&p, &y)) {
        yaml_node_t *root = yaml_document_get_root_node(&y);
        if (root && root->type == YAML_MAPPING_NODE) {
            yaml_node_t *v = yaml_document_get_node(&y, root->data.mapping.pairs.start->value);
            if (v && v->type == YAML_SCALAR_NODE) out = strdup((const char *)v->data.scalar.value);
        }
        yaml_document_delete(&y);
    }
    yaml_parser_delete(&p);
    free(doc);
    return out;
}

TEST(decode_bom_crlf)
{
    buf b = BUF_INIT;
    const char *enc;
    diag *d = diag_new();
    CHECK(import_decode("f", "\xEF\xBB\xBF" "a\r\nb\rc\n", 11, &b, &enc, d) == 0);
    CHECK_STR(b.ptr, "a\nb\nc\n");
    CHECK_STR(enc, "UTF-8");
    buf_free(&b);
    diag_free(d);
}

TEST(decode_gbk)
{
    buf b = BUF_INIT;
    const char *enc;
    diag *d = diag_new();
    CHECK(import_decode("f", "\xB9\xD8\xD3\xDA\r\n", 6, &b, &enc, d) == 0);
    CHECK_STR(b.ptr, "关于\n");
    CHECK_STR(enc, "GB18030");
    buf_free(&b);
    diag_free(d);
}

TEST(decode_utf16)
{
    buf b = BUF_INIT;
    const char *enc;
    diag *d = diag_new();
    /* "关于\r\n" as UTF-16LE with a BOM. */
    CHECK(import_decode("f", "\xFF\xFE\x73\x51\x8E\x4E\r\0\n\0", 10, &b, &enc, d) == 0);
    CHECK_STR(b.ptr, "关于\n");
    CHECK_STR(enc, "UTF-16");
    buf_free(&b);
    diag_free(d);
}

TEST(decode_garbage)
{
    buf b = BUF_INIT;
    const char *enc;
    diag *d = diag_new();
    CHECK(import_decode("f", "ok\n\xFF\xFF", 5, &b, &enc, d) == -1);
    CHECK(diag_count(d, DIAG_ERROR) == 1);
    CHECK(diag_has(d, "f:2: error:"));
    buf_free(&b);
    diag_free(d);
}

TEST(parse_date)
{
    char out[11];
    CHECK(import_parse_date("2017年9月29日", false, out));
    CHECK_STR(out, "2017-09-29");
    CHECK(import_parse_date("二〇一七年九月二十九日", false, out));
    CHECK_STR(out, "2017-09-29");
    CHECK(import_parse_date("二〇二〇年十二月三十一日", false, out));
    CHECK_STR(out, "2020-12-31");
    CHECK(import_parse_date("二〇二一年十月十日", false, out));
    CHECK_STR(out, "2021-10-10");
    CHECK(import_parse_date(" 2017年9 月29日", false, out));
    CHECK_STR(out, "2017-09-29");
    CHECK(!import_parse_date("2017年9 月29日印发", false, out));
    CHECK(import_parse_date("2017年9 月29日印发", true, out));
    CHECK(!import_parse_date("2017年13月1日", false, out));
    CHECK(!import_parse_date("2021年2月29日", false, out));
    CHECK(import_parse_date("2020年2月29日", false, out));
    CHECK(!import_parse_date("2017年4月11日，根据安排", false, out));
    CHECK(!import_parse_date("年月日", false, out));
    CHECK(!import_parse_date("", false, out));
    CHECK(import_parse_date("2017-09-29", false, out));
    CHECK_STR(out, "2017-09-29");
    CHECK(import_parse_date("2017.9.3", false, out));
    CHECK_STR(out, "2017-09-03");
    CHECK(import_parse_date("2017/12/31", false, out));
    CHECK(!import_parse_date("2017.9-3", false, out));
    CHECK(!import_parse_date("2017.9.31", false, out));
    CHECK(!import_parse_date("431.49万元", false, out));
    CHECK(!import_parse_date("2017.9.299", false, out));
}

TEST(doc_number)
{
    CHECK(import_is_doc_number("大工办发〔2017〕28号"));
    CHECK(import_is_doc_number("秦工办字[2021]13号"));
    CHECK(import_is_doc_number("秦工办字（2021）13号"));
    CHECK(import_is_doc_number("秦工办字(2021)3号"));
    CHECK(import_is_doc_number("秦工办字【2021】113号"));
    CHECK(!import_is_doc_number("〔2017〕28号"));
    CHECK(!import_is_doc_number("大工办发〔17〕28号"));
    CHECK(!import_is_doc_number("大工办发〔2017〕号"));
    CHECK(!import_is_doc_number("见大工办发〔2017〕28号文件"));
    CHECK(!import_is_doc_number("根据要求，按大工办发〔2017〕28号"));
}

TEST(split_list)
{
    size_t n;
    char **l = import_split_list("各区市县总工会、开放先导区总工会、产业工会，市总各部门：", &n);
    CHECK(n == 4);
    CHECK_STR(l[0], "各区市县总工会");
    CHECK_STR(l[2], "产业工会");
    CHECK_STR(l[3], "市总各部门");
    CHECK(l[4] == NULL);
    for (size_t i = 0; i < n; i++) free(l[i]);
    free(l);
    l = import_split_list("各县（区、市）总工会，直属工会:", &n);
    CHECK(n == 2);
    CHECK_STR(l[0], "各县（区、市）总工会");
    CHECK_STR(l[1], "直属工会");
    for (size_t i = 0; i < n; i++) free(l[i]);
    free(l);
    l = import_split_list("：", &n);
    CHECK(n == 0 && l[0] == NULL);
    free(l);
}

TEST(category)
{
    CHECK_STR(import_category("关于开展集中行动的通知"), "通知");
    CHECK_STR(import_category("关于印发…责任分工方案的通知"), "通知");
    CHECK_STR(import_category("关于赴乐山市学习考察工会工作情况的报告"), "报告");
    CHECK_STR(import_category("关于表彰先进的决定"), "决定");
    CHECK_STR(import_category("某某工会工作经验交流材料"), "经验交流");
    CHECK_STR(import_category("关于印发某某实施方案"), "方案");
    CHECK(import_category("提高站位 夯实措施") == NULL);
    CHECK(import_category("总工会") == NULL);
}

TEST(yaml_quote)
{
    const char *cases[] = {"关于“查实情”的通知", "say \"hi\" \\ back", "a: b # c", "《x》'y'",
                           "- dash", "line\nbreak\ttab", "yes", "2017-09-29", "", "\x01"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf b = BUF_INIT;
        import_yaml_quote(&b, cases[i]);
        char *back = yaml_roundtrip(b.ptr);
        CHECK_STR(back, cases[i]);
        free(back);
        buf_free(&b);
    }
}

TEST(title_multiline_and_recipients)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("大工办发〔2017〕28号\n\n关于印发大连市工会贯彻落实《辽宁省总工会\n\n"
                     "支持企业发展十项措施（实施细则）》\n\n责任分工方案的通知\n\n"
                     "各区市县总工会、产业工会，市总各部门：\n\n现将方案印发给你们，请认真学习。\n\n"
                     "大连市总工会办公室\n\n2017年9月29日\n", &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_STR(doc.title, "关于印发大连市工会贯彻落实《辽宁省总工会支持企业发展十项措施（实施细则）》责任分工方案的通知");
    CHECK_STR(doc.doc_number, "大工办发〔2017〕28号");
    CHECK(doc.nrecipients == 3);
    CHECK_STR(doc.issuer, "大连市总工会办公室");
    CHECK_STR(doc.date, "2017-09-29");
    CHECK_STR(doc.category, "通知");
    CHECK(doc.kind == IMPORT_NOTICE);
    CHECK(!doc.draft);
    CHECK(diag_total(d) == 0);
    /* The 主送 line and the signature stay in the body; title and 文号 go. */
    CHECK_CONTAINS(doc.body, "各区市县总工会、产业工会，市总各部门：\n\n现将方案");
    CHECK_CONTAINS(doc.body, "大连市总工会办公室\n\n2017年9月29日\n");
    CHECK(!strstr(doc.body, "28号"));
    CHECK(!strstr(doc.body, "关于印发"));
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(issuer_prefix_and_brackets)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("秦皇岛市总工会办公室文件\n\n秦工办字[2021]13号\n\n"
                     "秦皇岛市总工会办公室 关于开展“查实情、建实账、 促建会”集中行动的通知\n\n"
                     "各县（区）总工会：\n\n正文。\n\n秦皇岛市总工会\n\n二〇二一年三月十五日\n",
                     &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_STR(doc.title, "关于开展“查实情、建实账、促建会”集中行动的通知");
    CHECK_STR(doc.doc_number, "秦工办字[2021]13号");
    CHECK_STR(doc.issuer, "秦皇岛市总工会");
    CHECK_STR(doc.date, "2021-03-15");
    CHECK(doc.nrecipients == 1);
    CHECK_CONTAINS(doc.body, "秦皇岛市总工会办公室文件\n");
    CHECK_CONTAINS(doc.body, "二〇二一年三月十五日");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(headline_and_no_date)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("提高站位  夯实措施\n确保经费全额返还\n 为扎实做好工作，全力做好小微企业工会经费全额返还工作。\n",
                     &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_STR(doc.title, "提高站位 夯实措施 确保经费全额返还");
    CHECK_STR(doc.date, "1970-01-01");
    CHECK(doc.draft);
    CHECK(doc.kind == IMPORT_REPORT);
    CHECK(diag_has(d, "in.txt:1: warning: no date found"));
    CHECK_CONTAINS(out, "draft: true\n");
    CHECK_STR(doc.body, "为扎实做好工作，全力做好小微企业工会经费全额返还工作。\n");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(date_override_and_kind)
{
    import_doc doc;
    diag *d = diag_new();
    import_opts o = {IMPORT_NOTICE, "2020-12-31"};
    char *out = conv("标题一行\n正文第一段，内容很长很长很长很长很长很长。\n", &doc, d, &o);
    CHECK(out != NULL);
    CHECK_STR(doc.date, "2020-12-31");
    CHECK(!doc.draft);
    CHECK(doc.kind == IMPORT_NOTICE);
    CHECK(diag_total(d) == 0);
    char *rel = import_relpath(&doc, "x");
    CHECK_STR(rel, "notices/2020/x.md");
    free(rel);
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(no_title_warns)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("\n\n这是一段没有标题的正文，内容足够长以至于不会被当作标题来处理。\n\n2019年1月2日\n",
                     &doc, d, NULL);
    CHECK(out != NULL);
    CHECK(diag_has(d, "in.txt:3: warning: no title found"));
    CHECK(doc.title && str_starts(doc.body, "这是一段没有标题的正文"));
    CHECK_STR(doc.date, "2019-01-02");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(guanyu_sentence_is_not_a_title)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("提高认识\n关于经费返还问题，经研究决定如下\n一、全额返还\n2020年1月1日\n", &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_STR(doc.title, "提高认识");
    CHECK_CONTAINS(doc.body, "关于经费返还问题，经研究决定如下\n\n## 一、全额返还");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(ideographic_spaces)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("关于某事的通知\n\xe3\x80\x80\xe3\x80\x80为做好工作，\xe3\x80\x80现通知如下。\xc2\xa0\n"
                     "\xe2\x80\x8b" "2020年1月1日\n", &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_STR(doc.body, "为做好工作，现通知如下。\n\n2020年1月1日\n");
    CHECK_STR(doc.date, "2020-01-01");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(signature_one_line)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv(" 资阳市总工会办公室                    2017年5月3日\n\n关于学习考察的报告\n正文，内容。\n",
                     &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_STR(doc.issuer, "资阳市总工会办公室");
    CHECK_STR(doc.date, "2017-05-03");
    CHECK_STR(doc.category, "报告");
    CHECK(doc.kind == IMPORT_REPORT);
    CHECK_CONTAINS(doc.body, "资阳市总工会办公室 2017年5月3日\n\n正文，内容。");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(signature_block_beats_masthead_and_print_line)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("资阳市总工会办公室      2017年5月3日\n关于学习考察的报告\n正文。\n"
                     "资阳市总工会考察组\n2017年4月17日\n  送：省总工会办公室\n"
                     "  资阳市总工会办公室      2017年5月3日印发\n", &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_STR(doc.issuer, "资阳市总工会考察组");
    CHECK_STR(doc.date, "2017-04-17");
    CHECK_CONTAINS(doc.body, "2017年4月17日\n\n* * *\n\n送：省总工会办公室\n\n资阳市总工会办公室 2017年5月3日印发\n");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(headings_and_items)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("关于某事的通知\n"
                     "一、总体要求\n"
                     "（一）工作目标\n"
                     "（二）普查本地区情况。以第四次全国经济普查为依据，开展核查。\n"
                     "1. 做好经费拨付工作。（责任单位：财务部）\n"
                     "11. 做好帮扶工作。（责任单位：保障部）\n"
                     "1、 提高站位，统一思想\n"
                     "2、 这是一个带句号的编号段落。内容。\n"
                     "2008. 年份开头\n"
                     "# 不是标题\n"
                     "2021年1月1日\n", &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_CONTAINS(doc.body, "## 一、总体要求\n\n### （一）工作目标\n\n");
    CHECK_CONTAINS(doc.body, "**（二）普查本地区情况**。以第四次");
    CHECK_CONTAINS(doc.body, "\n1. 做好经费拨付工作。（责任单位：财务部）\n\n11. 做好帮扶工作。");
    CHECK_CONTAINS(doc.body, "#### 1、提高站位，统一思想\n");
    CHECK_CONTAINS(doc.body, "\n2、这是一个带句号的编号段落。内容。\n");
    CHECK_CONTAINS(doc.body, "\n2008\\. 年份开头\n");
    CHECK_CONTAINS(doc.body, "\n\\# 不是标题\n");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(numbered_heading_first)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("标题在这里\n引言部分内容比较长，我们的主要做法是：\n1、 提高站位，统一思想精谋划\n正文内容。\n二、夯实措施\n",
                     &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_CONTAINS(doc.body, "## 1、提高站位，统一思想精谋划\n\n正文内容。\n\n## 二、夯实措施\n");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(hard_wraps)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("关于某事的通知\n"
                     "为扎实做好工作，秦皇岛市总工会按照省总要求，提高站\n位，精心组织。\n"
                     "（一）普查情况。对全市基层工会组织建设情\n\n况进行一次摸底核查。\n"
                     "4. 时间安排。各系统、产业、直属基层摸底情况务于4月\n\n16日前完成。\n"
                     "一、这是一个很长很长很长很长很长很长很长的标题没有标点\n"
                     "正文。\n"
                     "短行不合并\n下一行。\n"
                     "要贯彻落实好市政府的意见精神，以企业集中的经济开发区为重点领域，按照\n（秦政字〔2020〕15号）要求推进。\n"
                     "做好以下几个方面的工作，具体的要求有这样一些内容如下\n（1）第一项。\n", &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_CONTAINS(doc.body, "提高站位，精心组织。");
    CHECK_CONTAINS(doc.body, "建设情况进行一次");
    CHECK_CONTAINS(doc.body, "4. 时间安排。各系统、产业、直属基层摸底情况务于4月16日前完成。");
    CHECK_CONTAINS(doc.body, "没有标点\n\n正文。");
    CHECK_CONTAINS(doc.body, "短行不合并\n\n下一行。");
    CHECK_CONTAINS(doc.body, "按照（秦政字〔2020〕15号）要求推进。");
    CHECK_CONTAINS(doc.body, "内容如下\n\n（1）第一项。");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(attachments_and_table)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("关于某事的通知\n正文。\n附件：1. 第一个统计表\n\n2. 第二个统计表\n3. 第三|表\n"
                     "某工会\n2021年3月15日\n附件 2\n统计表\n"
                     "序号\t单位名称\t联系人\n1\t\t\n2\t甲|乙\t张三\n\n后文。\n", &doc, d, NULL);
    CHECK(out != NULL);
    CHECK(doc.nattachments == 3);
    CHECK_STR(doc.attachments[0], "第一个统计表");
    CHECK_STR(doc.attachments[2], "第三|表");
    CHECK_CONTAINS(doc.body, "附件：\n\n1. 第一个统计表\n2. 第二个统计表\n3. 第三|表\n\n某工会");
    CHECK_CONTAINS(doc.body, "## 附件 2\n\n**统计表**\n\n"
                             "| 序号 | 单位名称 | 联系人 |\n|---|---|---|\n| 1 | | |\n| 2 | 甲\\|乙 | 张三 |\n\n后文。\n");
    CHECK_CONTAINS(out, "attachments:\n  - title: \"第一个统计表\"\n");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(markdown_escaping)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("关于某事的通知\n正文 *强调* 和 [链接] 和 <b>标签</b> 和 a_b 和 _x_ 和 &amp;。\n- 不是列表\n"
                     "2020年1月1日\n", &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_CONTAINS(doc.body, "正文 \\*强调\\* 和 \\[链接\\] 和 \\<b>标签\\</b> 和 a_b 和 \\_x\\_ 和 \\&amp;。");
    CHECK_CONTAINS(doc.body, "\n\\- 不是列表\n");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(editor_note_and_contacts)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("关于某事的通知\n编者按：现将报告印发给你们。\n联系人：陈静\n联系电话：3050334\n2020年1月1日\n",
                     &doc, d, NULL);
    CHECK(out != NULL);
    CHECK_CONTAINS(doc.body, "**编者按**：现将报告印发给你们。\n\n联系人：陈静\n\n联系电话：3050334\n");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(jekyll_post)
{
    import_doc doc;
    diag *d = diag_new();
    const char *in =
        "---\nlayout: post\ntitle: \"标题 \\\"引号\\\" 《书名》\"\ndate: 2022-01-14 08:10:30 +0800\n"
        "categories: hezeribao news\ntags: 菏泽日报新闻 财务\nauthor: 记者\ncomments: true\n"
        "sticky: \"true\"\npublished: false\n---\n"
        "<p>第一段 &amp; <strong>编者按：</strong>正文&nbsp;<em>强调</em>。</p>\n"
        " <p>加强规范化建设</p>\n <p>提高财务工作精细化水平</p>\n"
        " <p>第二段<br>换行 <a href=\"http://x.cn/a\">链接</a> *星*</p>"
        "<p class=\"em_media\">（文章来源：菏泽日报）</p><marquee>滚动</marquee>\n"
        "<ul><li>甲</li><li>乙</li></ul><ol><li>一</li><li>二</li></ol>\n\n"
        "<http://finews.zning.xyz/x>\n\n[返回](//finews.withounder.com/)\n";
    char *out = conv(in, &doc, d, NULL);
    CHECK(out != NULL);
    CHECK(doc.jekyll);
    CHECK_STR(doc.title, "标题 \"引号\" 《书名》");
    CHECK_STR(doc.date, "2022-01-14 08:10:30 +0800");
    CHECK_STR(doc.category, "hezeribao");
    CHECK(doc.ntags == 3);
    CHECK_STR(doc.tags[2], "news");
    CHECK(doc.layout == NULL);
    CHECK(doc.kind == IMPORT_REPORT);
    CHECK_CONTAINS(out, "title: \"标题 \\\"引号\\\" 《书名》\"\ndate: 2022-01-14 08:10:30 +0800\n");
    CHECK_CONTAINS(out, "draft: true\n");
    CHECK(!strstr(out, "No date was found"));
    CHECK_CONTAINS(out, "author: \"记者\"\ncomments: true\nsticky: \"true\"\n");
    CHECK_CONTAINS(doc.body, "第一段 & **编者按**：正文 *强调*。\n\n");
    CHECK_CONTAINS(doc.body, "## 加强规范化建设 提高财务工作精细化水平\n\n");
    CHECK_CONTAINS(doc.body, "第二段\\\n换行 [链接](http://x.cn/a) \\*星\\*\n\n（文章来源：菏泽日报）\n\n滚动");
    CHECK_CONTAINS(doc.body, "- 甲\n\n- 乙\n\n1. 一\n\n2. 二\n\n<http://finews.zning.xyz/x>\n\n[返回](//finews.withounder.com/)\n");
    CHECK(diag_has(d, "in.txt:15: warning: HTML tag <marquee> is not converted"));
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(jekyll_bad_yaml_falls_back)
{
    import_doc doc;
    diag *d = diag_new();
    char *out = conv("---\ntitle: [unclosed\n---\n正文。\n", &doc, d, NULL);
    CHECK(out != NULL);
    CHECK(!doc.jekyll);
    CHECK(diag_has(d, "not valid YAML"));
    CHECK_CONTAINS(doc.body, "正文。");
    free(out);
    import_doc_free(&doc);
    diag_free(d);
}

TEST(slugs)
{
    import_doc doc;
    memset(&doc, 0, sizeof doc);
    doc.title = "关于开展集中行动的通知";
    doc.date = "2021-03-15";
    char *s = import_slug(&doc, "x.txt");
    char want[32];
    snprintf(want, sizeof want, "03-15-%08x", import_hash(doc.title));
    CHECK_STR(s, want);
    free(s);
    CHECK(import_hash("") == 2166136261u);
    CHECK(import_hash("a") == 0xe40c292cu);
    doc.title = "Hello, World: 2022 Report!";
    s = import_slug(&doc, "x.txt");
    CHECK_STR(s, "hello-world-2022-report");
    free(s);
    doc.jekyll = true;
    s = import_slug(&doc, "_posts/2022-01-14-Heze-Finance.md");
    CHECK_STR(s, "heze-finance");
    free(s);
}

TEST(garbage_never_crashes)
{
    /* Odd inputs: only blanks, only markers, lone bytes, a huge line. */
    const char *cases[] = {"", "\n\n\n", "一、", "（一）", "1.", "附件：", "附件：1.", "---\n",
                           "---\n---\n", "---\ntitle: x\n---\n<p", "<a href=\"x\">",
                           "\t\t\n\t", "　　　", "年月日", "〔2017〕号", "关于", "2017年9月"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        import_doc doc;
        diag *d = diag_new();
        char *out = conv(cases[i], &doc, d, NULL);
        CHECK(out != NULL);
        CHECK(doc.title && doc.date && doc.body);
        free(out);
        import_doc_free(&doc);
        diag_free(d);
    }
    size_t n = 200000;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = 0;
    import_doc doc;
    diag *d = diag_new();
    char *out = conv(big, &doc, d, NULL);
    CHECK(out != NULL);
    free(out);
    free(big);
    import_doc_free(&doc);
    diag_free(d);
}

int main(void)
{
    RUN(decode_bom_crlf);
    RUN(decode_gbk);
    RUN(decode_utf16);
    RUN(decode_garbage);
    RUN(parse_date);
    RUN(doc_number);
    RUN(split_list);
    RUN(category);
    RUN(yaml_quote);
    RUN(title_multiline_and_recipients);
    RUN(issuer_prefix_and_brackets);
    RUN(headline_and_no_date);
    RUN(date_override_and_kind);
    RUN(no_title_warns);
    RUN(guanyu_sentence_is_not_a_title);
    RUN(ideographic_spaces);
    RUN(signature_one_line);
    RUN(signature_block_beats_masthead_and_print_line);
    RUN(headings_and_items);
    RUN(numbered_heading_first);
    RUN(hard_wraps);
    RUN(attachments_and_table);
    RUN(markdown_escaping);
    RUN(editor_note_and_contacts);
    RUN(jekyll_post);
    RUN(jekyll_bad_yaml_falls_back);
    RUN(slugs);
    RUN(garbage_never_crashes);
    return test_summary();
}
