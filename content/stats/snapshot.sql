-- Stats snapshot (schema_version 1), sample data for the Gazette site.
-- The contract is described in content/stats/README.md. Money is integer
-- fen (1 元 = 100 fen; 1 万元 = 1,000,000 fen).
--
-- The 2020 Qinhuangdao figures are the real ones from the report
-- "qinhuangdao-micro-enterprise-fund-refund": the districts add up to 431.48万元 while the
-- report states 431.49万元 (a real discrepancy the site shows).
-- Heze 开发区 2021 from "heze-kaifaqu-union-finance-reform"; Leshan achievements
-- from "ziyang-study-tour-leshan". Union-building figures and all
-- enterprises are invented sample data; contact fields are PRIVATE.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE snapshot_meta(
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO snapshot_meta VALUES('schema_version','1');
INSERT INTO snapshot_meta VALUES('taken_at','2022-02-28');
INSERT INTO snapshot_meta VALUES('source','工会经费收缴台账（示例数据）');
CREATE TABLE districts(
  id     TEXT PRIMARY KEY,
  name   TEXT NOT NULL,
  parent TEXT REFERENCES districts(id),
  sort   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO districts VALUES('qinhuangdao','秦皇岛市',NULL,1);
INSERT INTO districts VALUES('qhd-shizong','市总本级','qinhuangdao',1);
INSERT INTO districts VALUES('changli','昌黎县','qinhuangdao',2);
INSERT INTO districts VALUES('haigang','海港区','qinhuangdao',3);
INSERT INTO districts VALUES('shanhaiguan','山海关区','qinhuangdao',4);
INSERT INTO districts VALUES('beidaihe','北戴河区','qinhuangdao',5);
INSERT INTO districts VALUES('qhd-kaifaqu','开发区','qinhuangdao',6);
INSERT INTO districts VALUES('beidaihe-xinqu','北戴河新区','qinhuangdao',7);
INSERT INTO districts VALUES('lulong','卢龙县','qinhuangdao',8);
INSERT INTO districts VALUES('qinglong','青龙县','qinhuangdao',9);
INSERT INTO districts VALUES('heze','菏泽市',NULL,2);
INSERT INTO districts VALUES('heze-kaifaqu','菏泽市开发区','heze',1);
INSERT INTO districts VALUES('leshan','乐山市',NULL,3);
INSERT INTO districts VALUES('jiajiang','夹江县','leshan',1);
INSERT INTO districts VALUES('ziyang','资阳市',NULL,4);
INSERT INTO districts VALUES('dalian','大连市',NULL,5);
CREATE TABLE refund_tallies(
  district_id TEXT NOT NULL REFERENCES districts(id),
  period      TEXT NOT NULL,
  enterprises INTEGER NOT NULL CHECK(enterprises >= 0),
  amount_fen  INTEGER NOT NULL CHECK(amount_fen >= 0),
  source      TEXT,
  PRIMARY KEY(district_id, period)
);
INSERT INTO refund_tallies VALUES('qhd-shizong','2020',5,6530000,'qinhuangdao-micro-enterprise-fund-refund');
INSERT INTO refund_tallies VALUES('changli','2020',15,31420000,'qinhuangdao-micro-enterprise-fund-refund');
INSERT INTO refund_tallies VALUES('haigang','2020',25,34180000,'qinhuangdao-micro-enterprise-fund-refund');
INSERT INTO refund_tallies VALUES('shanhaiguan','2020',8,9030000,'qinhuangdao-micro-enterprise-fund-refund');
INSERT INTO refund_tallies VALUES('beidaihe','2020',4,1440000,'qinhuangdao-micro-enterprise-fund-refund');
INSERT INTO refund_tallies VALUES('qhd-kaifaqu','2020',123,347760000,'qinhuangdao-micro-enterprise-fund-refund');
INSERT INTO refund_tallies VALUES('beidaihe-xinqu','2020',1,1120000,'qinhuangdao-micro-enterprise-fund-refund');
INSERT INTO refund_tallies VALUES('heze-kaifaqu','2021',361,74150000,'heze-kaifaqu-union-finance-reform');
CREATE TABLE reported_totals(
  scope       TEXT NOT NULL,
  period      TEXT NOT NULL,
  enterprises INTEGER,
  amount_fen  INTEGER,
  source      TEXT,
  PRIMARY KEY(scope, period)
);
INSERT INTO reported_totals VALUES('qinhuangdao','2020',181,431490000,'qinhuangdao-micro-enterprise-fund-refund');
CREATE TABLE enterprises(
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL,
  district_id   TEXT NOT NULL REFERENCES districts(id),
  employees     INTEGER,
  contact_name  TEXT,
  contact_phone TEXT
);
INSERT INTO enterprises VALUES(1,'秦皇岛海韵商贸有限公司','qhd-shizong',4,'欧阳璟琛','13903357037');
INSERT INTO enterprises VALUES(2,'秦皇岛港城印务有限公司','qhd-shizong',7,'司马鹭汐','13903357074');
INSERT INTO enterprises VALUES(3,'秦皇岛市鑫达机械加工厂','qhd-shizong',17,'上官翊霖','13903357111');
INSERT INTO enterprises VALUES(4,'昌黎县葡萄酒庄园有限公司','changli',22,'诸葛芷汀','13903357148');
INSERT INTO enterprises VALUES(5,'昌黎县恒信农产品有限公司','changli',13,'东方砚舟','13903357185');
INSERT INTO enterprises VALUES(6,'海港区佳和物业服务有限公司','haigang',3,'皇甫蘅芜','13903357222');
INSERT INTO enterprises VALUES(7,'海港区A&B商贸有限公司','haigang',13,'尉迟沐辰','13903357259');
INSERT INTO enterprises VALUES(8,'海港区“老街”餐饮管理有限公司','haigang',16,'公孙珂蔓','13903357296');
INSERT INTO enterprises VALUES(9,'山海关区长城旅游服务有限公司','shanhaiguan',10,'慕容骁岑','13903357333');
INSERT INTO enterprises VALUES(10,'山海关区关城文化传媒有限公司','shanhaiguan',13,'宇文霁岚','13903357370');
INSERT INTO enterprises VALUES(11,'北戴河区海滨酒店管理有限公司','beidaihe',8,'欧阳璟琛甲','13903357407');
INSERT INTO enterprises VALUES(12,'开发区华茂电子科技有限公司','qhd-kaifaqu',9,'司马鹭汐甲','13903357444');
INSERT INTO enterprises VALUES(13,'开发区瑞丰玻璃制品有限公司','qhd-kaifaqu',17,'上官翊霖甲','13903357481');
INSERT INTO enterprises VALUES(14,'开发区中冶精密模具有限公司','qhd-kaifaqu',24,'诸葛芷汀甲','13903357518');
INSERT INTO enterprises VALUES(15,'开发区康泰医疗器械有限公司','qhd-kaifaqu',23,'东方砚舟甲','13903357555');
INSERT INTO enterprises VALUES(16,'开发区东方物流有限公司','qhd-kaifaqu',16,'皇甫蘅芜甲','13903357592');
INSERT INTO enterprises VALUES(17,'开发区天马软件有限公司','qhd-kaifaqu',9,'尉迟沐辰甲','13903357629');
INSERT INTO enterprises VALUES(18,'开发区宏达汽车零部件有限公司','qhd-kaifaqu',14,'公孙珂蔓甲','13903357666');
INSERT INTO enterprises VALUES(19,'开发区绿源环保科技有限公司','qhd-kaifaqu',15,'慕容骁岑甲','13903357703');
INSERT INTO enterprises VALUES(20,'开发区金桥建材有限公司','qhd-kaifaqu',17,'宇文霁岚甲','13903357740');
INSERT INTO enterprises VALUES(21,'北戴河新区蔚蓝海洋科技有限公司','beidaihe-xinqu',13,'欧阳璟琛甲乙','13903357777');
INSERT INTO enterprises VALUES(22,'开发区盛世包装有限公司','qhd-kaifaqu',8,'司马鹭汐甲乙','13903357814');
INSERT INTO enterprises VALUES(23,'开发区博远检测技术有限公司','qhd-kaifaqu',4,'上官翊霖甲乙','13903357851');
INSERT INTO enterprises VALUES(24,'海港区顺捷快递服务有限公司','haigang',15,'诸葛芷汀甲乙','13903357888');
INSERT INTO enterprises VALUES(25,'昌黎县黄金海岸渔业合作社','changli',11,'东方砚舟甲乙','13903357925');
INSERT INTO enterprises VALUES(26,'菏泽开发区牡丹食品有限公司','heze-kaifaqu',19,'皇甫蘅芜甲乙','13903357962');
INSERT INTO enterprises VALUES(27,'菏泽开发区鲁西木业有限公司','heze-kaifaqu',16,'尉迟沐辰甲乙','13903357999');
INSERT INTO enterprises VALUES(28,'菏泽开发区正源纺织有限公司','heze-kaifaqu',16,'公孙珂蔓甲乙','13903358036');
INSERT INTO enterprises VALUES(29,'菏泽开发区华夏光电有限公司','heze-kaifaqu',3,'慕容骁岑甲乙','13903358073');
INSERT INTO enterprises VALUES(30,'菏泽开发区恒润化工有限公司','heze-kaifaqu',7,'宇文霁岚甲乙','13903358110');
CREATE TABLE enterprise_refunds(
  enterprise_id INTEGER NOT NULL REFERENCES enterprises(id),
  period        TEXT NOT NULL,
  amount_fen    INTEGER NOT NULL,
  status        TEXT NOT NULL
    CHECK(status IN ('approved','refunded','rejected','pending')),
  PRIMARY KEY(enterprise_id, period)
);
INSERT INTO enterprise_refunds VALUES(1,'2020',1008100,'refunded');
INSERT INTO enterprise_refunds VALUES(2,'2020',3257800,'refunded');
INSERT INTO enterprise_refunds VALUES(3,'2020',3734900,'refunded');
INSERT INTO enterprise_refunds VALUES(4,'2020',2529500,'refunded');
INSERT INTO enterprise_refunds VALUES(5,'2020',4741300,'refunded');
INSERT INTO enterprise_refunds VALUES(6,'2020',2716300,'approved');
INSERT INTO enterprise_refunds VALUES(7,'2020',2024400,'pending');
INSERT INTO enterprise_refunds VALUES(8,'2020',5493500,'rejected');
INSERT INTO enterprise_refunds VALUES(9,'2020',4434500,'refunded');
INSERT INTO enterprise_refunds VALUES(10,'2020',5977700,'refunded');
INSERT INTO enterprise_refunds VALUES(11,'2020',362100,'refunded');
INSERT INTO enterprise_refunds VALUES(12,'2020',1747100,'refunded');
INSERT INTO enterprise_refunds VALUES(13,'2020',1059500,'refunded');
INSERT INTO enterprise_refunds VALUES(14,'2020',3366500,'refunded');
INSERT INTO enterprise_refunds VALUES(15,'2020',5570300,'approved');
INSERT INTO enterprise_refunds VALUES(16,'2020',2030400,'pending');
INSERT INTO enterprise_refunds VALUES(17,'2020',3628100,'rejected');
INSERT INTO enterprise_refunds VALUES(18,'2020',697600,'refunded');
INSERT INTO enterprise_refunds VALUES(19,'2020',967600,'refunded');
INSERT INTO enterprise_refunds VALUES(20,'2020',4085600,'refunded');
INSERT INTO enterprise_refunds VALUES(21,'2020',110000,'refunded');
INSERT INTO enterprise_refunds VALUES(22,'2020',942100,'refunded');
INSERT INTO enterprise_refunds VALUES(23,'2020',2856500,'refunded');
INSERT INTO enterprise_refunds VALUES(24,'2020',3752800,'approved');
INSERT INTO enterprise_refunds VALUES(25,'2020',1484200,'pending');
INSERT INTO enterprise_refunds VALUES(26,'2021',4579400,'rejected');
INSERT INTO enterprise_refunds VALUES(27,'2021',4333200,'refunded');
INSERT INTO enterprise_refunds VALUES(28,'2021',3115100,'refunded');
INSERT INTO enterprise_refunds VALUES(29,'2021',3467900,'refunded');
INSERT INTO enterprise_refunds VALUES(30,'2021',1206300,'refunded');
CREATE TABLE union_building(
  district_id       TEXT NOT NULL REFERENCES districts(id),
  period            TEXT NOT NULL,
  enterprises_25plus INTEGER,
  unions_built      INTEGER,
  members           INTEGER,
  federations       INTEGER,
  PRIMARY KEY(district_id, period)
);
INSERT INTO union_building VALUES('qhd-shizong','2021',96,91,15320,4);
INSERT INTO union_building VALUES('changli','2021',312,268,24105,17);
INSERT INTO union_building VALUES('haigang','2021',587,529,61870,23);
INSERT INTO union_building VALUES('shanhaiguan','2021',143,121,9876,8);
INSERT INTO union_building VALUES('beidaihe','2021',118,97,7412,6);
INSERT INTO union_building VALUES('qhd-kaifaqu','2021',734,702,83190,19);
INSERT INTO union_building VALUES('beidaihe-xinqu','2021',65,48,3211,3);
INSERT INTO union_building VALUES('lulong','2021',174,139,10543,11);
INSERT INTO union_building VALUES('qinglong','2021',158,122,9902,12);
CREATE TABLE achievements(
  id          INTEGER PRIMARY KEY,
  district_id TEXT NOT NULL REFERENCES districts(id),
  period      TEXT NOT NULL,
  title       TEXT NOT NULL,
  figure      TEXT,
  source      TEXT
);
INSERT INTO achievements VALUES(1,'leshan','2016','“春风送岗”招聘会，1000余家企业提供就业岗位','5.2万个','ziyang-study-tour-leshan');
INSERT INTO achievements VALUES(2,'leshan','2016','参加“春风送岗”招聘活动的群众','5.7万名','ziyang-study-tour-leshan');
INSERT INTO achievements VALUES(3,'leshan','2016','民族区域国税系统劳动竞赛职工参赛，参与面达到92%','4000多名','ziyang-study-tour-leshan');
INSERT INTO achievements VALUES(4,'leshan','2016','上解省总工会经费，增长率81.1%','1041.7万元','ziyang-study-tour-leshan');
INSERT INTO achievements VALUES(5,'leshan','2017','乐山市职工文体活动中心（职工乒乓球馆）租用闲置厂房','2524.3㎡','ziyang-study-tour-leshan');
INSERT INTO achievements VALUES(6,'jiajiang','2017','职工“三中心”建筑面积','3294.7平方米','ziyang-study-tour-leshan');
INSERT INTO achievements VALUES(7,'jiajiang','2017','职工“三中心”争取灾后重建资金','500多万元','ziyang-study-tour-leshan');
INSERT INTO achievements VALUES(8,'jiajiang','2017','省总工会追加“三中心”补助资金','200万元','ziyang-study-tour-leshan');
COMMIT;
