import { describe, expect, it } from 'vitest';
import { definerOf, isDefinerRefusal, stripDefiner } from '../../../functions/dump/definer.js';

describe('DEFINER clauses', () => {
  it('removes the clause as SHOW CREATE writes it', () => {
    const sql = 'CREATE DEFINER=`root`@`localhost` PROCEDURE `p`() BEGIN SELECT 1; END';
    expect(stripDefiner(sql)).toBe('CREATE PROCEDURE `p`() BEGIN SELECT 1; END');
    expect(definerOf(sql)).toBe('`root`@`localhost`');
  });

  it('removes the executable-comment form mysqldump writes', () => {
    const sql =
      '/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1 */';
    expect(stripDefiner(sql)).toBe(
      '/*!50003 CREATE*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1 */',
    );
  });

  it('handles views with algorithm and security clauses and quoted hosts', () => {
    const sql = "CREATE ALGORITHM=UNDEFINED DEFINER='app'@'10.0.%' SQL SECURITY DEFINER VIEW `v` AS select 1";
    expect(stripDefiner(sql)).toBe('CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select 1');
  });

  it('leaves statements without a DEFINER alone', () => {
    expect(stripDefiner('CREATE TABLE t (definer_name INT)')).toBeNull();
    expect(isDefinerRefusal({ errno: 1227 })).toBe(true);
    expect(isDefinerRefusal(new Error('x'))).toBe(false);
  });
});
